/* test_dispatch.c: outboxes delivered for real to fake peers: signed, retried, acked,
 * dead-lettered. The clock runs 600x so backoff takes milliseconds. */
#include "harness.h"
#include "core/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char *db;
static struct th_server srv;
static char *fin, *gw, *ops;
static struct th_peer gateway, sms, hook;
static char env_sms[200], env_hook[200], gw_url[100];

static void setup(void)
{
	memset(&gateway, 0, sizeof gateway);
	memset(&sms, 0, sizeof sms);
	memset(&hook, 0, sizeof hook);
	gateway.port = 0;
	th_peer_start(&sms, 0);
	th_peer_start(&hook, 0);
	gateway.port = th_free_port(); /* not listening yet: connection refused */
	pthread_mutex_init(&gateway.mu, NULL);
	snprintf(gw_url, sizeof gw_url, "http://127.0.0.1:%d", gateway.port);
	snprintf(env_sms, sizeof env_sms, "WATTLE_SMS_URL=http://127.0.0.1:%d/2010-04-01/Accounts/AC1/Messages.json", sms.port);
	snprintf(env_hook, sizeof env_hook, "WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:%d/events", hook.port);
	static const char *env[] = {"WATTLE_CLOCK_SPEED=600", "WATTLE_GATEWAY_SECRET=gw-secret",
				    "WATTLE_DISPATCH_LEASE_MS=2000",
				    "WATTLE_NOTIFY_WEBHOOK_SECRET=hook-secret", "WATTLE_SMS_USER=AC1",
				    "WATTLE_SMS_TOKEN=tok", "WATTLE_SMS_FROM=+15550001111", env_sms, env_hook, NULL};
	db = th_fresh_db();
	th_server_start(&srv, db, env);
	fin = th_key(&srv, "finance", NULL);
	gw = th_key(&srv, "gateway", NULL);
	ops = th_key(&srv, "operator", NULL);
	json_decref(th_ok(&srv, "POST", "/v1/sites", srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/tenants", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
			  "\"area_m2\":\"80\",\"credit_rating\":\"B\",\"phone\":\"+8613800138000\"}", 201));
	char body[300];
	snprintf(body, sizeof body, "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"gateway\":\"%s\"}", gw_url);
	json_decref(th_ok(&srv, "POST", "/v1/meters", ops, body, 201));
}

static void teardown(void)
{
	ck_assert_int_eq(th_server_stop(&srv), 0);
	th_peer_stop(&gateway);
	th_peer_stop(&sms);
	th_peer_stop(&hook);
	th_assert_ledger_invariant(db);
	free(fin);
	free(gw);
	free(ops);
	free(db);
}

static long long q(const char *sql) { return th_sql_int(db, sql); }

static int wait_for(const char *sql, long long want)
{
	for (int i = 0; i < 100; i++) {
		if (q(sql) == want)
			return 1;
		usleep(50000);
	}
	return 0;
}

/* The signature header verifies against the body with secret. */
static void check_sig(const struct th_peer_req *r, const char *secret)
{
	long long t = atoll(r->sig + 2);
	char want[200];
	srv_sign(secret, t, r->body, want, sizeof want);
	ck_assert_str_eq(r->sig, want);
}

START_TEST(command_delivered_once_after_gateway_comes_back)
{
	json_t *c = th_ok(&srv, "POST", "/v1/meters/M-1/commands", ops,
			  "{\"action\":\"cut_off\",\"reason\":\"illegal heater\"}", 202);
	ck_assert_str_eq(json_string_value(json_object_get(c, "state")), "pending");
	json_decref(c);
	/* connection refused a few times, recorded as attempts */
	ck_assert(wait_for("SELECT (count(*) >= 2)::int FROM delivery_attempts WHERE outbox = 'commands' AND http_status IS NULL", 1));
	gateway.fail_next = 2; /* then up, answering 500 twice */
	th_peer_start(&gateway, gateway.port);
	ck_assert(wait_for("SELECT count(*) FROM commands WHERE state = 'sent'", 1));
	ck_assert_int_eq(th_peer_count(&gateway, NULL), 1); /* delivered once */
	ck_assert_int_ge(q("SELECT count(*) FROM delivery_attempts WHERE http_status = 500"), 2);
	struct th_peer_req *r = &gateway.reqs[0];
	ck_assert_str_eq(r->path, "/commands");
	check_sig(r, "gw-secret");
	json_t *b = json_loads(r->body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(b, "command_id")), "cmd_1");
	ck_assert_str_eq(json_string_value(json_object_get(b, "meter_serial")), "M-1");
	ck_assert_str_eq(json_string_value(json_object_get(b, "action")), "cut_off");
	ck_assert_str_eq(json_string_value(json_object_get(b, "reason")), "illegal heater");
	ck_assert(json_is_string(json_object_get(b, "issued_at")));
	json_decref(b);
	/* the gateway acks; the account's supply follows */
	json_t *a = th_ok(&srv, "POST", "/v1/commands/cmd_1/ack", gw, "{\"result\":\"executed\",\"relay\":\"off\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "acked");
	json_decref(a);
	json_decref(th_ok(&srv, "POST", "/v1/commands/cmd_1/ack", gw, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	struct th_resp x = th_req(&srv, "POST", "/v1/commands/cmd_1/ack", gw, "{\"result\":\"failed\"}", NULL);
	ck_assert_int_eq(x.status, 409);
	th_resp_free(&x);
	x = th_req(&srv, "POST", "/v1/commands/cmd_1/ack", gw, "{\"result\":\"executed\"}", NULL);
	ck_assert_int_eq(x.status, 400); /* executed without the relay */
	th_resp_free(&x);
	json_t *acct = th_ok(&srv, "GET", "/v1/tenants/ten_1/account", fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(acct, "supply")), "off");
	json_decref(acct);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action IN ('command.manual', 'command.ack')"), 2);
	/* a reading that says the relay is on after an acked cut: an event, and the cut again */
	json_decref(th_ok(&srv, "POST", "/v1/readings", gw,
			  "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":5,\"relay\":\"on\"}]}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM meter_events WHERE kind = 'relay_mismatch'"), 1);
	ck_assert(wait_for("SELECT count(*) FROM commands WHERE reason = 'relay_mismatch' AND action = 'cut_off' AND state = 'sent'", 1));
	ck_assert_int_eq(th_peer_count(&gateway, "relay_mismatch"), 1);
	/* while that command is out, another disagreeing reading queues nothing more */
	json_decref(th_ok(&srv, "POST", "/v1/readings", gw,
			  "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":5,\"relay\":\"on\"}]}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE reason = 'relay_mismatch'"), 1);
}
END_TEST

START_TEST(restore_supersedes_pending_cut)
{
	json_decref(th_ok(&srv, "POST", "/v1/meters/M-1/commands", ops, "{\"action\":\"cut_off\",\"reason\":\"test\"}", 202));
	json_decref(th_ok(&srv, "POST", "/v1/meters/M-1/commands", ops, "{\"action\":\"restore\",\"reason\":\"test over\"}", 202));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'cut_off' AND state = 'superseded'"), 1);
	th_peer_start(&gateway, gateway.port);
	ck_assert(wait_for("SELECT count(*) FROM commands WHERE action = 'restore' AND state = 'sent'", 1));
	usleep(200000);
	ck_assert_int_eq(th_peer_count(&gateway, "cut_off"), 0); /* the cut never went out */
	ck_assert_int_eq(th_peer_count(&gateway, "restore"), 1);
}
END_TEST

START_TEST(sms_and_webhook_delivered)
{
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":5000,\"channel\":\"cash\"}", 201));
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE state = 'sent'", 2));
	ck_assert_int_eq(th_peer_count(&sms, NULL), 1);
	ck_assert_int_eq(th_peer_count(&hook, NULL), 1);
	struct th_peer_req *s = &sms.reqs[0];
	ck_assert_str_eq(s->path, "/2010-04-01/Accounts/AC1/Messages.json");
	ck_assert_str_eq(s->ctype, "application/x-www-form-urlencoded");
	ck_assert_str_eq(s->auth, "Basic QUMxOnRvaw=="); /* AC1:tok */
	ck_assert(strstr(s->body, "To=%2B8613800138000"));
	ck_assert(strstr(s->body, "From=%2B15550001111"));
	/* rendered when sent, in the site's language (en by default), with the receipt's number */
	ck_assert_msg(strstr(s->body, "Body=Noodle%20Bar%3A%20top-up%20of%20CNY%2050.00%20received%20%28receipt%20"), "%s", s->body);
	PGresult *rn = th_sql(db, "SELECT number FROM receipts");
	ck_assert_int_eq(PQntuples(rn), 1);
	ck_assert_msg(strstr(s->body, PQgetvalue(rn, 0, 0)), "%s lacks the receipt number %s", s->body, PQgetvalue(rn, 0, 0));
	PQclear(rn);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND provider = 'twilio' AND language = 'en'"), 1);
	struct th_peer_req *h = &hook.reqs[0];
	check_sig(h, "hook-secret");
	json_t *e = json_loads(h->body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(e, "event")), "topup_received");
	ck_assert_str_eq(json_string_value(json_object_get(e, "tenant_id")), "ten_1");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "amount_minor")), 5000);
	json_decref(e);
}
END_TEST

START_TEST(dead_letter_after_attempts)
{
	sms.fail_next = 1000;
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":100,\"channel\":\"cash\"}", 201));
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'dead'", 1));
	ck_assert_int_eq(q("SELECT attempts FROM notifications WHERE channel = 'sms'"), 8);
	ck_assert_int_eq(q("SELECT count(*) FROM delivery_attempts WHERE outbox = 'notifications' AND http_status = 500"), 8);
	json_t *d = th_ok(&srv, "GET", "/v1/notifications?state=dead", ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(d, "items")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(d, "items"), 0), "last_error")), "HTTP 500");
	json_decref(d);
	/* /metrics counts the seven failures tried again and the eighth given up, by provider */
	struct th_resp m = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(m.body, "wattle_dispatch_failures_total{peer=\"twilio\",outcome=\"retry\"} 7\n"), "%s", m.body);
	ck_assert(strstr(m.body, "wattle_dispatch_failures_total{peer=\"twilio\",outcome=\"dead\"} 1\n"));
	ck_assert(strstr(m.body, "wattle_dispatch_failures_total{peer=\"aliyun\",outcome=\"retry\"} 0\n"));
	ck_assert(strstr(m.body, "wattle_dispatch_failures_total{peer=\"webhook\",outcome=\"dead\"} 0\n"));
	th_resp_free(&m);
}
END_TEST

/* Commands for meters M-2 .. M-(n+1), one each, straight into the outbox. */
static void many_commands(int n, const char *action)
{
	char sql[600];
	if (q("SELECT count(*) FROM meters") < n + 1) {
		snprintf(sql, sizeof sql,
			 "INSERT INTO meters (serial, site_id, tenant_id, purpose, gateway, created_at, updated_at)"
			 " SELECT 'M-' || g, 1, 1, 'tenant', '%s', now(), now() FROM generate_series(2, %d) g", gw_url, n + 1);
		PQclear(th_sql(db, sql));
	}
	snprintf(sql, sizeof sql,
		 "INSERT INTO commands (meter_id, action, reason, origin, created_at, next_attempt_at)"
		 " SELECT id, '%s', 'load test', 'operator', now(), now() FROM meters WHERE serial <> 'M-1' ORDER BY id", action);
	PQclear(th_sql(db, sql));
}

/* How many distinct command ids the gateway received, and how many requests in all. */
static int distinct_received(int *total)
{
	pthread_mutex_lock(&gateway.mu);
	json_t *seen = json_object();
	for (int i = 0; i < gateway.n; i++) {
		json_t *b = json_loads(gateway.reqs[i].body, 0, NULL);
		const char *id = json_string_value(json_object_get(b, "command_id"));
		if (id)
			json_object_set_new(seen, id, json_true());
		json_decref(b);
	}
	int d = (int)json_object_size(seen);
	json_decref(seen);
	*total = gateway.n;
	pthread_mutex_unlock(&gateway.mu);
	return d;
}

START_TEST(two_servers_send_each_once_and_lose_none_on_kill)
{
	static const char *env2[] = {"WATTLE_CLOCK_SPEED=600", "WATTLE_GATEWAY_SECRET=gw-secret",
				     "WATTLE_DISPATCH_LEASE_MS=2000", NULL};
	struct th_server second;
	th_server_start(&second, db, env2);
	th_peer_start(&gateway, gateway.port);
	many_commands(60, "cut_off");
	ck_assert(wait_for("SELECT count(*) FROM commands WHERE state = 'sent'", 60));
	int total, d = distinct_received(&total);
	ck_assert_int_eq(d, 60);
	ck_assert_int_eq(total, 60); /* two senders, none twice */
	/* Now the gateway is slow; kill -9 the second server while it is sending. */
	gateway.delay_ms = 150;
	many_commands(60, "restore");
	usleep(400000);
	kill(second.pid, SIGKILL);
	waitpid(second.pid, NULL, 0);
	second.pid = 0;
	/* the first server takes over what the dead one had claimed, once its lease runs out */
	int all = 0;
	for (int i = 0; i < 200 && !all; i++) {
		usleep(100000);
		all = q("SELECT count(*) FROM commands WHERE state = 'sent'") == 120;
	}
	ck_assert_msg(all, "commands lost after kill -9: %lld sent of 120", q("SELECT count(*) FROM commands WHERE state = 'sent'"));
	d = distinct_received(&total);
	ck_assert_int_eq(d, 120); /* every command reached the gateway */
	/* at most the ones the dead process had in flight went out twice (the gateway
	 * deduplicates by command_id) */
	ck_assert_int_le(total - d, 50);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, command_delivered_once_after_gateway_comes_back);
	tcase_add_test(core, restore_supersedes_pending_cut);
	tcase_add_test(core, sms_and_webhook_delivered);
	tcase_add_test(core, dead_letter_after_attempts);
	suite_add_tcase(s, core);
	TCase *multi = tcase_create("multi_process");
	tcase_add_checked_fixture(multi, setup, teardown);
	tcase_set_timeout(multi, 120);
	tcase_add_test(multi, two_servers_send_each_once_and_lose_none_on_kill);
	suite_add_tcase(s, multi);
	return s;
}

int main(void) { return th_run(suite()); }
