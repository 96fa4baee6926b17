/* test_messages.c (ctest: messages_e2e): messages to tenants through the real server (issue
 * 16): templates as data (PUT/GET /v1/sites/{id}/message-templates and their validation),
 * sites' and tenants' languages and channels, texts in Chinese and English with the
 * language's number formats reaching a Twilio-style peer, the limits (the 7th message in an
 * hour suppressed, except a cut-off; the same text within 10 minutes once), a refusal dead
 * without a retry, a throttled send retried, the fallback from WeChat to SMS, and Twilio's
 * status callback; and for each carrier of issue 16 (Aliyun, Tencent Cloud, the WeChat
 * official account) through the server against its fake: a message sent (the right template
 * and parameters, in Chinese), a refusal recorded without a retry, a throttled send retried,
 * and the fallback from WeChat (43004, not following) to SMS. The clock runs 60x: an hour is
 * a minute. */
#include "harness.h"
#include "core/paysig.h"
#include "peer/peer.h"
#include "fake_sms.h"
#include "fake_wxoa.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A Twilio-style Messages API: checks the account's Basic credentials, records each message
 * (its form decoded), and answers as Twilio does: 201 with the message's "sid"; a refusal
 * 400 {"code": 21211, "message": ...}; throttling 429 {"code": 20429}. */
#define TW_MAX 64
struct tw_msg {
	char to[32], body[1200], callback[300];
};
static pthread_mutex_t tw_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct peer *p;
	int n, refuse_next, throttle_next, requests;
	struct tw_msg m[TW_MAX];
} tw;

static void tw_answer(void *ud, const struct peer_request *rq, struct peer_reply *out)
{
	(void)ud;
	const char *auth = peer_header(rq, "Authorization");
	pthread_mutex_lock(&tw_mu);
	tw.requests++;
	struct bill_form f;
	int bad = bill_form_parse(rq->body, rq->body_len, &f);
	if (!auth || strcmp(auth, "Basic QUMxOnRvaw==") || strcmp(rq->path, "/2010-04-01/Accounts/AC1/Messages.json")) {
		out->status = 401;
		out->body = strdup("{\"code\":20003,\"message\":\"Authenticate\",\"status\":401}");
	} else if (bad || !bill_form_get(&f, "To") || !bill_form_get(&f, "Body") || !bill_form_get(&f, "From")) {
		out->status = 400;
		out->body = strdup("{\"code\":21604,\"message\":\"A 'To', 'From' and 'Body' are required\",\"status\":400}");
	} else if (tw.throttle_next > 0) {
		tw.throttle_next--;
		out->status = 429;
		out->body = strdup("{\"code\":20429,\"message\":\"Too Many Requests\",\"status\":429}");
	} else if (tw.refuse_next > 0) {
		tw.refuse_next--;
		out->status = 400;
		out->body = strdup("{\"code\":21211,\"message\":\"The 'To' number is not a valid phone number.\",\"status\":400}");
	} else if (tw.n < TW_MAX) {
		struct tw_msg *m = &tw.m[tw.n++];
		const char *cb = bill_form_get(&f, "StatusCallback");
		snprintf(m->to, sizeof m->to, "%s", bill_form_get(&f, "To"));
		snprintf(m->body, sizeof m->body, "%s", bill_form_get(&f, "Body"));
		snprintf(m->callback, sizeof m->callback, "%s", cb ? cb : "");
		char b[200];
		snprintf(b, sizeof b, "{\"sid\":\"SM%032d\",\"status\":\"queued\",\"to\":\"%s\"}", tw.n, m->to);
		out->status = 201;
		out->body = strdup(b);
	}
	bill_form_free(&f);
	pthread_mutex_unlock(&tw_mu);
}

static int tw_count(const char *needle)
{
	pthread_mutex_lock(&tw_mu);
	int k = 0;
	for (int i = 0; i < tw.n; i++)
		k += !needle || strstr(tw.m[i].body, needle) != NULL;
	pthread_mutex_unlock(&tw_mu);
	return k;
}

static struct th_world w;
static char env_sms[200];

static void setup(void)
{
	pthread_mutex_lock(&tw_mu);
	tw.n = tw.refuse_next = tw.throttle_next = tw.requests = 0;
	pthread_mutex_unlock(&tw_mu);
	tw.p = peer_start(0, tw_answer, NULL);
	ck_assert(tw.p);
	snprintf(env_sms, sizeof env_sms, "WATTLE_SMS_URL=http://127.0.0.1:%d/2010-04-01/Accounts/AC1/Messages.json",
		 peer_port(tw.p));
	static const char *env[] = {"WATTLE_CLOCK_SPEED=60", "WATTLE_SMS_USER=AC1", "WATTLE_SMS_TOKEN=tok",
				    "WATTLE_SMS_FROM=+15550001111", "WATTLE_PUBLIC_URL=https://wattle.example",
				    "WATTLE_SMS_CALLBACK_TOKEN=cb-secret", env_sms, NULL};
	th_world_start(&w, env, TH_SITE);
}

static void teardown(void)
{
	th_world_stop(&w);
	peer_stop(tw.p);
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static int wait_for(const char *sql, long long want, int ms)
{
	for (int i = 0; i < ms / 50; i++) {
		if (q(sql) == want)
			return 1;
		usleep(50000);
	}
	return q(sql) == want;
}

/* A tenant of site_1 (ten_<n> in creation order) with extra JSON fields. */
static void tenant(const char *name, const char *rating, const char *phone, const char *extra)
{
	char b[600];
	snprintf(b, sizeof b,
		 "{\"site_id\":\"site_1\",\"name\":\"%s\",\"category\":\"catering\",\"area_m2\":\"80\","
		 "\"credit_rating\":\"%s\",\"phone\":\"%s\"%s%s}",
		 name, rating, phone, extra ? "," : "", extra ? extra : "");
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin, b, 201));
}

static void topup(const char *tenant_id, long long amount)
{
	char path[80], b[120];
	snprintf(path, sizeof path, "/v1/tenants/%s/topups", tenant_id);
	snprintf(b, sizeof b, "{\"amount_minor\":%lld,\"channel\":\"cash\"}", amount);
	json_decref(th_ok(&w.srv, "POST", path, w.fin, b, 201));
}

static void put_templates(const char *body, long want)
{
	json_decref(th_ok(&w.srv, "PUT", "/v1/sites/site_1/message-templates", w.fin, body, want));
}

/* The row of GET .../message-templates for event and language (borrowed from g). */
static json_t *row_of(json_t *g, const char *event, const char *lang)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(g, "templates"), i, x) {
		if (!strcmp(json_string_value(json_object_get(x, "event")), event) &&
		    !strcmp(json_string_value(json_object_get(x, "language")), lang))
			return x;
	}
	return NULL;
}

START_TEST(templates_and_resource_fields)
{
	/* the site's language: en for existing sites, settable */
	json_t *s = th_ok(&w.srv, "GET", "/v1/sites/site_1", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(s, "language")), "en");
	json_decref(s);
	s = th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"language\":\"zh-CN\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(s, "language")), "zh-CN");
	json_decref(s);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"language\":\"fr\"}", 400));
	s = th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
		  "{\"name\":\"Plaza\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\",\"language\":\"zh-CN\"}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(s, "language")), "zh-CN");
	json_decref(s);
	/* a tenant's: null (the site's), channels ["sms"] by default */
	tenant("Noodle Bar", "A", "+8613800138000", NULL);
	json_t *t = th_ok(&w.srv, "GET", "/v1/tenants/ten_1", w.fin, NULL, 200);
	ck_assert(json_is_null(json_object_get(t, "language")));
	ck_assert(json_is_null(json_object_get(t, "wechat_openid")));
	ck_assert_int_eq((int)json_array_size(json_object_get(t, "channels")), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(t, "channels"), 0)), "sms");
	json_decref(t);
	t = th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin,
		  "{\"language\":\"en\",\"channels\":[\"wechat\",\"sms\"],\"wechat_openid\":\"oAbC123\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "language")), "en");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(t, "channels"), 0)), "wechat");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(t, "channels"), 1)), "sms");
	ck_assert_str_eq(json_string_value(json_object_get(t, "wechat_openid")), "oAbC123");
	json_decref(t);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"channels\":[\"fax\"]}", 400));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"channels\":[]}", 400));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"channels\":[\"sms\",\"sms\"]}", 400));
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"language\":\"de\"}", 400));
	t = th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"language\":null}", 200);
	ck_assert(json_is_null(json_object_get(t, "language")));
	json_decref(t);

	/* the shipped defaults: every event in both languages */
	json_t *g = th_ok(&w.srv, "GET", "/v1/sites/site_1/message-templates", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(g, "templates")), 16); /* 8 events (login_code, issue 17, is the 8th) */
	json_t *d = row_of(g, "topup_received", "zh-CN");
	ck_assert(json_is_true(json_object_get(d, "default")));
	ck_assert(strstr(json_string_value(json_object_get(d, "text")), "{receipt_no}"));
	json_decref(g);

	/* validation: the unknown variable named, the events and languages, the shape */
	struct th_resp r = th_req(&w.srv, "PUT", "/v1/sites/site_1/message-templates", w.fin,
				  "{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\",\"text\":\"{tenant_name}: cut at {cutat}\"}]}",
				  NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_msg(strstr(r.body, "cutat"), "%s", r.body);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "variable")), "cutat");
	th_resp_free(&r);
	r = th_req(&w.srv, "PUT", "/v1/sites/site_1/message-templates", w.fin,
		   "{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\",\"sms_template\":\"SMS_1\","
		   "\"sms_params\":{\"name\":\"tenant_name\",\"money\":\"balanse\"}}]}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_msg(strstr(r.body, "balanse"), "%s", r.body);
	th_resp_free(&r);
	put_templates("{\"templates\":[{\"event\":\"blackout\",\"language\":\"en\",\"text\":\"x\"}]}", 400);
	put_templates("{\"templates\":[{\"event\":\"cut_off\",\"language\":\"fr\",\"text\":\"x\"}]}", 400);
	put_templates("{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\"}]}", 400); /* nothing to send */
	put_templates("{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\",\"text\":\"a\"},"
		      "{\"event\":\"cut_off\",\"language\":\"en\",\"text\":\"b\"}]}", 400); /* twice */
	put_templates("{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\",\"text\":\"x\",\"colour\":\"red\"}]}", 400);
	put_templates("{\"templates\":[{\"event\":\"cut_off\",\"language\":\"en\",\"sms_template\":\"1\","
		      "\"sms_params\":{\"1\":\"balance\",\"3\":\"tenant_name\"}}]}", 400); /* positional gap */
	put_templates("{\"rows\":[]}", 400);
	json_decref(th_ok(&w.srv, "PUT", "/v1/sites/site_1/message-templates", w.ops, "{\"templates\":[]}", 403));
	json_decref(th_ok(&w.srv, "PUT", "/v1/sites/site_9/message-templates", w.fin, "{\"templates\":[]}", 404));
	ck_assert_int_eq(q("SELECT count(*) FROM message_templates"), 0);

	/* a valid set, then another replacing it whole */
	put_templates("{\"templates\":[{\"event\":\"low_balance\",\"language\":\"zh-CN\",\"sms_template\":\"SMS_154950909\","
		      "\"sms_params\":{\"name\":\"tenant_name\",\"balance\":\"balance\"},\"text\":\"{shop}余额{balance}\"},"
		      "{\"event\":\"cut_off\",\"language\":\"zh-CN\",\"sms_template\":\"1110\","
		      "\"sms_params\":{\"1\":\"tenant_name\",\"2\":\"balance\"},\"wechat_template\":\"tplCut\","
		      "\"wechat_fields\":{\"first\":\"tenant_name\",\"keyword1\":\"{balance} left\"}}]}", 200);
	g = th_ok(&w.srv, "GET", "/v1/sites/site_1/message-templates", w.fin, NULL, 200);
	d = row_of(g, "low_balance", "zh-CN");
	ck_assert(json_is_false(json_object_get(d, "default")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "sms_template")), "SMS_154950909");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "sms_params"), "balance")), "balance");
	ck_assert_str_eq(json_string_value(json_object_get(d, "text")), "{shop}余额{balance}");
	d = row_of(g, "cut_off", "zh-CN");
	ck_assert_str_eq(json_string_value(json_object_get(d, "wechat_template")), "tplCut");
	ck_assert(strstr(json_string_value(json_object_get(d, "text")), "电力供应已停止")); /* the shipped text */
	ck_assert(json_is_true(json_object_get(row_of(g, "low_balance", "en"), "default")));
	json_decref(g);
	ck_assert_int_eq(q("SELECT count(*) FROM message_templates WHERE site_id = 1"), 2);
	put_templates("{\"templates\":[{\"event\":\"alarm\",\"language\":\"en\",\"text\":\"{alarm_kind} at {meter}\"}]}", 200);
	ck_assert_int_eq(q("SELECT count(*) FROM message_templates WHERE site_id = 1"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM message_templates WHERE event = 'alarm' AND language = 'en'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'site.message_templates'"), 2);
}
END_TEST

/* The body the fake got that contains needle ("" when none; copied into out[n]). */
static const char *tw_find(const char *needle, char *out, size_t n)
{
	pthread_mutex_lock(&tw_mu);
	out[0] = 0;
	for (int i = 0; i < tw.n && !out[0]; i++)
		if (strstr(tw.m[i].body, needle))
			snprintf(out, n, "%s", tw.m[i].body);
	pthread_mutex_unlock(&tw_mu);
	return out;
}

START_TEST(chinese_and_english_texts)
{
	json_decref(th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"language\":\"zh-CN\"}", 200));
	tenant("面馆", "A", "+8613800138000", NULL);                          /* the site's language */
	tenant("Noodle Bar", "A", "+8613800138001", "\"language\":\"en\""); /* its own */
	topup("ten_1", 123450);
	topup("ten_2", 123450);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 2, 8000));
	char b[1200];
	tw_find("面馆", b, sizeof b);
	ck_assert_msg(strstr(b, "已收到充值¥1,234.50（收据号"), "%s", b);
	ck_assert_msg(strstr(b, "当前余额¥1,234.50"), "%s", b);
	tw_find("Noodle Bar", b, sizeof b);
	ck_assert_msg(strstr(b, "top-up of CNY 1,234.50 received (receipt "), "%s", b);
	/* the receipt's number in the text; the row keeps the text sent, its language, the carrier */
	PGresult *rn = th_sql(w.db, "SELECT number FROM receipts r JOIN tenants t ON t.id = r.tenant_id WHERE t.name = 'Noodle Bar'");
	ck_assert_int_eq(PQntuples(rn), 1);
	ck_assert_msg(strstr(b, PQgetvalue(rn, 0, 0)), "%s lacks %s", b, PQgetvalue(rn, 0, 0));
	PQclear(rn);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND channel = 'sms' AND language = 'zh-CN'"
			   " AND provider = 'twilio' AND provider_msg_id LIKE 'SM%' AND body LIKE '%¥1,234.50%'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE tenant_id = 2 AND channel = 'sms' AND language = 'en'"
			   " AND body LIKE '%CNY 1,234.50%'"), 1);
	/* the event and its variables, not just a text */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'topup_received'"
			   " AND payload->>'event' = 'topup_received' AND (payload->'vars'->>'amount_minor')::bigint = 123450"), 2);
	/* the control room's events as they were */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'webhook' AND (payload->>'amount_minor')::bigint = 123450"), 2);

	/* a site's own text, in English, with the template's variables */
	put_templates("{\"templates\":[{\"event\":\"topup_received\",\"language\":\"en\","
		      "\"text\":\"{tenant_name} ({shop}) paid {amount}; receipt {receipt_no}; balance {balance}\"}]}", 200);
	topup("ten_2", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 3, 8000));
	tw_find("paid", b, sizeof b);
	ck_assert_msg(strstr(b, "Noodle Bar (Noodle Bar (catering)) paid CNY 1.00; receipt "), "%s", b);
	ck_assert_msg(strstr(b, "; balance CNY 1,235.50"), "%s", b);
	/* GET /v1/notifications shows how it went */
	json_t *n = th_ok(&w.srv, "GET", "/v1/notifications?state=sent", w.ops, NULL, 200);
	json_t *x = json_array_get(json_object_get(n, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(x, "provider")), "twilio");
	ck_assert(json_is_string(json_object_get(x, "language")));
	ck_assert(json_is_null(json_object_get(x, "delivery")));
	json_decref(n);
}
END_TEST

START_TEST(hourly_limit_spares_the_cut)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[],"
			  "\"overdraft_minor\":0,\"grace_minutes\":0,\"restore_min_minor\":0,\"quiet_hours\":null}", 201));
	tenant("Noodle Bar", "A", "+8613800138000", NULL); /* no policy: top-ups only notify */
	for (int i = 0; i < 6; i++) {
		topup("ten_1", 100 + i); /* six different texts */
		ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", i + 1, 8000));
	}
	topup("ten_1", 200); /* the seventh within the hour */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'suppressed'", 1, 8000));
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE state = 'suppressed' AND kind = 'topup_received'"
			   " AND last_error LIKE '%6 messages in the last hour%'"), 1);
	ck_assert_int_eq(tw_count(NULL), 6);
	/* the tenant runs out: grace of 0 minutes, then the cut; only the cut goes beyond the limit */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"credit_rating\":\"B\"}", 200));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/adjustments", w.fin,
			  "{\"amount_minor\":-815,\"reason\":\"meter reading corrected\"}", 201));
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'cut_off' AND state = 'sent'", 1, 10000));
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'grace_started' AND state = 'suppressed'", 1, 5000));
	ck_assert_int_eq(tw_count(NULL), 7);
	ck_assert_int_eq(tw_count("cut off"), 1);
	/* the webhook events all went out */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'webhook' AND state = 'suppressed'", 0, 100));
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(m.body, "wattle_notifications_suppressed_total{reason=\"limit\"} 2"), "%s", m.body);
	th_resp_free(&m);
	json_t *n = th_ok(&w.srv, "GET", "/v1/notifications?state=suppressed", w.ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(n, "items")), 2);
	json_decref(n);
	/* an hour later (a minute of real time) the tenant hears again */
	sleep(61);
	topup("ten_1", 5000);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'topup_received' AND state = 'sent'", 7, 10000));
}
END_TEST

START_TEST(same_text_within_ten_minutes_once)
{
	put_templates("{\"templates\":[{\"event\":\"topup_received\",\"language\":\"en\","
		      "\"text\":\"{tenant_name}: we received {amount}.\"}]}", 200);
	tenant("Noodle Bar", "A", "+8613800138000", NULL);
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 1, 8000));
	topup("ten_1", 100); /* the same text */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'suppressed'", 1, 8000));
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE state = 'suppressed' AND last_error LIKE '%same message%'"), 1);
	topup("ten_1", 101); /* another text goes */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 2, 8000));
	ck_assert_int_eq(tw_count("we received CNY 1.00."), 1);
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(m.body, "wattle_notifications_suppressed_total{reason=\"duplicate\"} 1"), "%s", m.body);
	th_resp_free(&m);
	sleep(11); /* ten minutes later, the same text again */
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 3, 8000));
	ck_assert_int_eq(tw_count("we received CNY 1.00."), 2);
}
END_TEST

START_TEST(refusal_dead_at_once_throttle_retried)
{
	tenant("Noodle Bar", "A", "+8613800138000", NULL);
	pthread_mutex_lock(&tw_mu);
	tw.refuse_next = 1;
	pthread_mutex_unlock(&tw_mu);
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'dead'", 1, 8000));
	usleep(500000); /* eight seconds of the server's time: no second try */
	ck_assert_int_eq(q("SELECT attempts FROM notifications WHERE channel = 'sms'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM delivery_attempts WHERE outbox = 'notifications' AND http_status = 400"), 1);
	ck_assert_int_eq(tw.requests, 1);
	json_t *d = th_ok(&w.srv, "GET", "/v1/notifications?state=dead", w.ops, NULL, 200);
	json_t *x = json_array_get(json_object_get(d, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(x, "last_code")), "21211");
	ck_assert_str_eq(json_string_value(json_object_get(x, "provider")), "twilio");
	ck_assert_msg(strstr(json_string_value(json_object_get(x, "last_error")), "not a valid phone number"), "%s",
		      json_string_value(json_object_get(x, "last_error")));
	json_decref(d);
	/* throttled twice, then taken: tried again with backoff, sent once */
	pthread_mutex_lock(&tw_mu);
	tw.throttle_next = 2;
	pthread_mutex_unlock(&tw_mu);
	topup("ten_1", 200);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 1, 15000));
	ck_assert_int_eq(q("SELECT attempts FROM notifications WHERE channel = 'sms' AND state = 'sent'"), 3);
	ck_assert_int_eq(q("SELECT count(*) FROM delivery_attempts WHERE outbox = 'notifications' AND http_status = 429"), 2);
	ck_assert_int_eq(tw_count(NULL), 1);
}
END_TEST

START_TEST(wechat_falls_back_to_sms)
{
	/* WeChat first, but no WeChat carrier configured here: SMS at once, no try wasted */
	tenant("Noodle Bar", "A", "+8613800138000", "\"channels\":[\"wechat\",\"sms\"],\"wechat_openid\":\"oAbC123\"");
	tenant("Tea House", "A", "+8613800138001", "\"channels\":[\"wechat\"]"); /* WeChat only, no openid */
	topup("ten_1", 100);
	topup("ten_2", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND channel = 'sms' AND state = 'sent'"
			   " AND provider = 'twilio' AND attempts = 1", 1, 8000));
	ck_assert_int_eq(tw_count("Noodle Bar"), 1);
	/* nothing can carry Tea House's message: dead at once, saying why */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 2 AND channel <> 'webhook' AND state = 'dead'"
			   " AND last_error LIKE '%no openid%'", 1, 8000));
	ck_assert_int_eq(tw_count("Tea House"), 0);
}
END_TEST

static void callback(const char *query, const char *form, long want)
{
	static const char *const hd[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	char path[200];
	snprintf(path, sizeof path, "/v1/webhooks/sms/twilio%s", query);
	struct th_resp r = th_req(&w.srv, "POST", path, NULL, form, hd);
	ck_assert_msg(r.status == want, "%s: %ld %s", form, r.status, r.body);
	th_resp_free(&r);
}

START_TEST(twilio_status_callback)
{
	tenant("Noodle Bar", "A", "+8613800138000", NULL);
	topup("ten_1", 100);
	topup("ten_1", 200);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent'", 2, 8000));
	/* each send asked Twilio to report to wattle, with the token */
	pthread_mutex_lock(&tw_mu);
	ck_assert_str_eq(tw.m[0].callback, "https://wattle.example/v1/webhooks/sms/twilio?token=cb-secret");
	pthread_mutex_unlock(&tw_mu);
	PGresult *r = th_sql(w.db, "SELECT provider_msg_id FROM notifications WHERE channel = 'sms' ORDER BY id");
	char sid1[64], sid2[64], form[300];
	snprintf(sid1, sizeof sid1, "%s", PQgetvalue(r, 0, 0));
	snprintf(sid2, sizeof sid2, "%s", PQgetvalue(r, 1, 0));
	PQclear(r);
	ck_assert_int_eq((int)strlen(sid1), 34);
	snprintf(form, sizeof form, "MessageSid=%s&MessageStatus=delivered&AccountSid=AC1", sid1);
	callback("?token=wrong", form, 401);
	callback("", form, 401);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE delivery IS NOT NULL"), 0);
	callback("?token=cb-secret", "MessageSid=SM0000&MessageStatus=delivered", 404); /* not ours */
	snprintf(form, sizeof form, "MessageSid=%s&MessageStatus=sent", sid1);
	callback("?token=cb-secret", form, 200); /* not an outcome yet */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE delivery IS NOT NULL"), 0);
	snprintf(form, sizeof form, "MessageSid=%s&MessageStatus=delivered", sid1);
	callback("?token=cb-secret", form, 200);
	snprintf(form, sizeof form, "MessageSid=%s&MessageStatus=undelivered&ErrorCode=30003", sid2);
	callback("?token=cb-secret", form, 200);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE delivery = 'delivered' AND delivered_at IS NOT NULL"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE delivery = 'undelivered' AND delivery_code = '30003'"), 1);
	json_t *n = th_ok(&w.srv, "GET", "/v1/notifications?state=sent", w.ops, NULL, 200);
	size_t i;
	json_t *x;
	int delivered = 0, undelivered = 0;
	json_array_foreach(json_object_get(n, "items"), i, x) {
		const char *dv = json_string_value(json_object_get(x, "delivery"));
		if (!dv)
			continue;
		ck_assert_str_eq(json_string_value(json_object_get(x, "channel")), "sms");
		delivered += !strcmp(dv, "delivered");
		if (!strcmp(dv, "undelivered")) {
			undelivered++;
			ck_assert_str_eq(json_string_value(json_object_get(x, "delivery_code")), "30003");
		}
	}
	json_decref(n);
	ck_assert_int_eq(delivered, 1);
	ck_assert_int_eq(undelivered, 1);
	/* counted as every carrier's reports are */
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert(strstr(m.body, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"delivered\"} 1\n"));
	ck_assert(strstr(m.body, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"undelivered\"} 1\n"));
	ck_assert(strstr(m.body, "wattle_sms_reports_total{provider=\"twilio\",outcome=\"recorded\"} 2\n"));
	th_resp_free(&m);
}
END_TEST


/* The carriers' fakes and a server sending SMS through provider ("aliyun", "tencent") or
 * Twilio (NULL), with WeChat configured. */
static struct fakesms *fa, *ft;
static struct fakewx *fx;
static const char *const ali_names[] = {"name", "amount", "receipt"};
static const char *const wx_fields[] = {"first", "keyword1", "keyword2"};

static void carriers_start(const char *provider)
{
	pthread_mutex_lock(&tw_mu);
	tw.n = tw.refuse_next = tw.throttle_next = tw.requests = 0;
	pthread_mutex_unlock(&tw_mu);
	tw.p = peer_start(0, tw_answer, NULL);
	fa = fakesms_start("aliyun", "LTAI5tAK", "ali-secret", "华商电力", NULL);
	ft = fakesms_start("tencent", "AKIDtc", "tc-secret", "华商电力", "1400000001");
	fx = fakewx_start("wx0123456789abcdef", "wx-secret");
	ck_assert(tw.p && fa && ft && fx);
	fakesms_template(fa, "SMS_100", 3, ali_names);
	fakesms_template(ft, "1110", 2, NULL);
	fakewx_template(fx, "tplTopup", wx_fields, 3);
	static char e_sms[200], e_prov[64], e_ali[100], e_tc[100], e_wx[100];
	char b[80];
	snprintf(e_sms, sizeof e_sms, "WATTLE_SMS_URL=http://127.0.0.1:%d/2010-04-01/Accounts/AC1/Messages.json",
		 peer_port(tw.p));
	snprintf(e_prov, sizeof e_prov, "WATTLE_SMS_PROVIDER=%s", provider ? provider : "twilio");
	snprintf(e_ali, sizeof e_ali, "WATTLE_ALIYUN_SMS_ENDPOINT=%s", fakesms_base(fa, b, sizeof b));
	snprintf(e_tc, sizeof e_tc, "WATTLE_TENCENT_SMS_ENDPOINT=%s", fakesms_base(ft, b, sizeof b));
	snprintf(e_wx, sizeof e_wx, "WATTLE_WECHAT_OA_API_BASE=%s", fakewx_base(fx, b, sizeof b));
	static const char *env[] = {"WATTLE_CLOCK_SPEED=60", "WATTLE_SMS_USER=AC1", "WATTLE_SMS_TOKEN=tok",
				    "WATTLE_SMS_FROM=+15550001111", "WATTLE_PUBLIC_URL=https://wattle.example",
				    "WATTLE_ALIYUN_ACCESS_KEY_ID=LTAI5tAK", "WATTLE_ALIYUN_ACCESS_KEY_SECRET=ali-secret",
				    "WATTLE_ALIYUN_SMS_SIGN_NAME=华商电力", "WATTLE_TENCENT_SECRET_ID=AKIDtc",
				    "WATTLE_TENCENT_SECRET_KEY=tc-secret", "WATTLE_TENCENT_SMS_SDK_APP_ID=1400000001",
				    "WATTLE_TENCENT_SMS_SIGN_NAME=华商电力", "WATTLE_WECHAT_OA_APPID=wx0123456789abcdef",
				    "WATTLE_WECHAT_OA_SECRET=wx-secret", e_sms, e_prov, e_ali, e_tc, e_wx, NULL};
	th_world_start(&w, env, TH_SITE);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/sites/site_1", w.srv.admin_key, "{\"language\":\"zh-CN\"}", 200));
	put_templates("{\"templates\":[{\"event\":\"topup_received\",\"language\":\"zh-CN\","
		      "\"sms_template\":\"SMS_100\",\"sms_params\":{\"name\":\"tenant_name\",\"amount\":\"amount\","
		      "\"receipt\":\"receipt_no\"},\"wechat_template\":\"tplTopup\",\"wechat_fields\":{\"first\":"
		      "\"{tenant_name}，充值已到账\",\"keyword1\":\"amount\",\"keyword2\":\"balance\"}},"
		      "{\"event\":\"restored\",\"language\":\"zh-CN\",\"sms_template\":\"1110\","
		      "\"sms_params\":{\"2\":\"balance\",\"1\":\"tenant_name\"}}]}", 200);
}

static void carriers_stop(void)
{
	th_world_stop(&w);
	peer_stop(tw.p);
	fakesms_stop(fa);
	fakesms_stop(ft);
	fakewx_stop(fx);
}

static void aliyun_world(void) { carriers_start("aliyun"); }
static void tencent_world(void) { carriers_start("tencent"); }
static void twilio_world(void) { carriers_start(NULL); }

START_TEST(aliyun_through_the_server)
{
	tenant("面馆", "A", "+8613800138000", NULL);
	topup("ten_1", 123450);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent' AND provider = 'aliyun'", 1, 8000));
	ck_assert_int_eq(fakesms_count(fa), 1);
	struct fake_sms_msg m;
	ck_assert_int_eq(fakesms_msg(fa, 0, &m), 0);
	ck_assert_str_eq(m.tpl, "SMS_100");
	ck_assert_str_eq(m.phone, "8613800138000");
	json_t *p = json_loads(m.params, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "面馆");
	ck_assert_str_eq(json_string_value(json_object_get(p, "amount")), "1234.50"); /* a plain number in a template */
	PGresult *rn = th_sql(w.db, "SELECT number FROM receipts");
	ck_assert_str_eq(json_string_value(json_object_get(p, "receipt")), PQgetvalue(rn, 0, 0));
	PQclear(rn);
	json_decref(p);
	char sql[300];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE provider_msg_id = '%s' AND language = 'zh-CN'"
		 " AND body LIKE '%%已收到充值¥1,234.50%%'", m.msg_id);
	ck_assert_int_eq(q(sql), 1);
	/* a refusal (the number): dead at once, its code kept */
	fakesms_fail_next(fa, "isv.MOBILE_NUMBER_ILLEGAL", 1);
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'dead'"
			   " AND last_code = 'isv.MOBILE_NUMBER_ILLEGAL' AND attempts = 1", 1, 8000));
	/* throttled: tried again, sent */
	fakesms_fail_next(fa, "isv.BUSINESS_LIMIT_CONTROL", 1);
	topup("ten_1", 200);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent' AND attempts = 2"
			   " AND provider = 'aliyun'", 1, 15000));
	ck_assert_int_eq(fakesms_count(fa), 2);
	ck_assert_int_eq(fakesms_refused(fa), 0); /* every request's signature checked out */
	ck_assert_int_eq(tw_count(NULL), 0); /* WATTLE_SMS_PROVIDER=aliyun: Twilio never asked */
}
END_TEST

START_TEST(tencent_through_the_server)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[],"
			  "\"overdraft_minor\":0,\"grace_minutes\":0,\"restore_min_minor\":0,\"quiet_hours\":null}", 201));
	tenant("面馆", "B", "+8613800138000", NULL); /* at 0: grace, then cut (no Tencent template: dead) */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'cut_off' AND state = 'dead'"
			   " AND last_error LIKE '%no tencent template for cut_off in zh-CN%'", 1, 10000));
	topup("ten_1", 123450); /* restored: Tencent's template 1110, its parameters in order */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE kind = 'restored' AND state = 'sent' AND provider = 'tencent'", 1, 8000));
	ck_assert_int_eq(fakesms_count(ft), 1);
	struct fake_sms_msg m;
	fakesms_msg(ft, 0, &m);
	ck_assert_str_eq(m.tpl, "1110");
	ck_assert_str_eq(m.params, "[\"面馆\",\"1234.50\"]");
	char sql[300];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE provider = 'tencent' AND provider_msg_id = '%s'", m.msg_id);
	ck_assert_int_eq(q(sql), 1);
	/* topup_received has no Tencent-shaped template here... it has SMS_100 (Aliyun's): Tencent refuses it */
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE kind = 'topup_received' AND channel = 'sms' AND state = 'dead'"
			   " AND attempts = 1", 1, 8000));
	/* a refusal (blacklisted) and a throttling */
	PQclear(th_sql(w.db, "DELETE FROM message_templates WHERE event = 'topup_received'"));
	PQclear(th_sql(w.db, "UPDATE message_templates SET event = 'topup_received' WHERE event = 'restored'"));
	fakesms_fail_next(ft, "FailedOperation.PhoneNumberInBlacklist", 1);
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE state = 'dead' AND attempts = 1"
			   " AND last_code = 'FailedOperation.PhoneNumberInBlacklist'", 1, 8000));
	fakesms_fail_next(ft, "LimitExceeded.PhoneNumberThirtySecondLimit", 1);
	topup("ten_1", 200);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE kind = 'topup_received' AND state = 'sent'"
			   " AND provider = 'tencent' AND attempts = 2", 1, 15000));
	ck_assert_int_eq(fakesms_count(ft), 2);
}
END_TEST

START_TEST(wechat_then_sms)
{
	fakewx_user(fx, "oFollows", true);
	fakewx_user(fx, "oLeft", false);
	tenant("面馆", "A", "+8613800138000", "\"channels\":[\"wechat\",\"sms\"],\"wechat_openid\":\"oFollows\"");
	tenant("茶馆", "A", "+8613800138001", "\"channels\":[\"wechat\",\"sms\"],\"wechat_openid\":\"oLeft\"");
	topup("ten_1", 123450);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND channel = 'wechat' AND state = 'sent'"
			   " AND provider = 'wechat'", 1, 8000));
	struct fakewx_msg m;
	ck_assert_int_eq(fakewx_message(fx, 0, &m), 0);
	ck_assert_str_eq(m.touser, "oFollows");
	ck_assert_str_eq(m.template_id, "tplTopup");
	ck_assert_str_eq(m.url, "https://wattle.example/tenants/ten_1");
	json_t *d = json_loads(m.data, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "first"), "value")), "面馆，充值已到账");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "keyword1"), "value")), "1234.50");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "keyword2"), "value")), "1234.50");
	json_decref(d);
	ck_assert_int_eq(tw_count(NULL), 0);
	/* not following (43004): SMS at once, in the same round */
	topup("ten_2", 500);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 2 AND channel = 'sms' AND state = 'sent'"
			   " AND provider = 'twilio' AND attempts = 1", 1, 8000));
	ck_assert_int_eq(tw_count("茶馆：已收到充值¥5.00"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM delivery_attempts WHERE outbox = 'notifications'"
			   " AND item_id = (SELECT id FROM notifications WHERE tenant_id = 2 AND channel = 'sms')"), 2);
	/* a refusal on WeChat with SMS after it: the SMS carries it; WeChat alone: dead at once */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_1", w.fin, "{\"channels\":[\"wechat\"]}", 200));
	PQclear(th_sql(w.db, "UPDATE message_templates SET wechat_template = 'tplUnknown'"));
	topup("ten_1", 100);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND channel = 'wechat' AND state = 'dead'"
			   " AND last_code = '40037' AND attempts = 1", 1, 8000));
	/* throttled (45009, the quota): tried again */
	PQclear(th_sql(w.db, "UPDATE message_templates SET wechat_template = 'tplTopup'"));
	fakewx_fail_next(fx, 45009, 1);
	topup("ten_1", 200);
	ck_assert(wait_for("SELECT count(*) FROM notifications WHERE tenant_id = 1 AND channel = 'wechat' AND state = 'sent'"
			   " AND attempts = 2", 1, 15000));
	ck_assert_int_eq((int)fakewx_messages(fx), 2);
	ck_assert_int_eq((int)fakewx_tokens_issued(fx), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("messages");
	TCase *t = tcase_create("core");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 180);
	tcase_add_test(t, templates_and_resource_fields);
	tcase_add_test(t, chinese_and_english_texts);
	tcase_add_test(t, hourly_limit_spares_the_cut);
	tcase_add_test(t, same_text_within_ten_minutes_once);
	tcase_add_test(t, refusal_dead_at_once_throttle_retried);
	tcase_add_test(t, wechat_falls_back_to_sms);
	tcase_add_test(t, twilio_status_callback);
	suite_add_tcase(s, t);
	const struct {
		const char *name;
		void (*start)(void);
		const TTest *test;
	} per[] = {{"aliyun", aliyun_world, aliyun_through_the_server},
		   {"tencent", tencent_world, tencent_through_the_server},
		   {"wechat", twilio_world, wechat_then_sms}};
	for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) {
		TCase *c = tcase_create(per[i].name);
		tcase_add_checked_fixture(c, per[i].start, carriers_stop);
		tcase_set_timeout(c, 120);
		tcase_add_test(c, per[i].test);
		suite_add_tcase(s, c);
	}
	return s;
}

int main(void) { return th_run(suite()); }
