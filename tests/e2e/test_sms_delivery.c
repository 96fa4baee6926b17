/* test_sms_delivery.c: SMS delivery reports through the real server. The messages are sent
 * in-process through chan_aliyun and chan_tencent to the fakes (so the ids are the fakes'
 * own), and their notification rows, as the sender leaves them (state sent, provider,
 * provider_msg_id), are written by SQL. Then: the fakes post their providers' reports to
 * POST /v1/webhooks/sms/aliyun and /tencent, refused without our token or with another; a
 * report moves only the message wattle sent through that provider, the first report stands,
 * an unknown id is ignored and counted; GET /v1/notifications shows delivery, code and
 * time; /metrics counts them. And with WATTLE_SMS_DELIVERY=poll, the worker asks
 * QuerySendDetails and PullSmsSendStatus and records what it learns, leaving alone a message
 * sent less than a minute ago. */
#include "harness.h"

#include "fake_sms.h"
#include "server/channels.h"
#include "server/sms.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "cb-token-7Qx9wattle"
#define AK_ID "LTAI5tWattleTest"
#define AK_SECRET "wattle-aliyun-secret-0123456789"
#define A_SIGN "瓦特电费"
#define TC_ID "AKIDwattleTestSecretId0123456789"
#define TC_KEY "wattleTencentSecretKey0123456789"
#define TC_APP "1400787878"
#define TC_SIGN "瓦特科技"

static struct fakesms *fa, *ft;
static char abase[64], tbase[64];

static void fakes_start(void)
{
	fa = fakesms_start("aliyun", AK_ID, AK_SECRET, A_SIGN, NULL);
	ft = fakesms_start("tencent", TC_ID, TC_KEY, TC_SIGN, TC_APP);
	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(ft);
	fakesms_base(fa, abase, sizeof abase);
	fakesms_base(ft, tbase, sizeof tbase);
	const char *names[] = {"balance"};
	fakesms_template(fa, "SMS_4650001", 1, names);
	fakesms_template(ft, "1110001", 1, NULL);
	struct sms_aliyun_cfg a = {AK_ID, AK_SECRET, A_SIGN, abase, 3000};
	chan_aliyun_configure(&a);
	struct sms_tencent_cfg t = {TC_ID, TC_KEY, TC_APP, TC_SIGN, tbase, NULL, 3000};
	chan_tencent_configure(&t);
}

/* Send one message through carrier to phone; its provider id into id[128]. */
static void send_one(const struct chan_carrier *carrier, const char *phone, char id[128])
{
	static const char *const ak[] = {"balance"}, *const tk[] = {"1"}, *const v[] = {"3.20"};
	bool ali = carrier == &chan_aliyun;
	struct chan_msg m = {.notification_id = 1, .to = phone, .language = "zh-CN", .text = "余额不足",
			     .template_id = ali ? "SMS_4650001" : "1110001", .param_keys = ali ? ak : tk,
			     .param_vals = v, .nparams = 1};
	CURL *h = curl_easy_init();
	struct chan_outcome o;
	ck_assert_int_eq(carrier->send(h, &m, &o), CH_SENT);
	curl_easy_cleanup(h);
	snprintf(id, 128, "%s", o.provider_msg_id);
}

/* The notification row the sender leaves for a sent message, sent `ago_s` seconds ago. */
static long long sent_row(const char *db, const char *provider, const char *phone, const char *msg_id, int ago_s)
{
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "INSERT INTO notifications (kind, channel, recipient, body, payload, state, attempts, created_at,"
		 " next_attempt_at, sent_at, provider, provider_msg_id, language) VALUES ('low_balance', 'sms', '%s',"
		 " '余额不足', '{}', 'sent', 1, now() - interval '%d seconds', now(), now() - interval '%d seconds',"
		 " '%s', '%s', 'zh-CN') RETURNING id",
		 phone, ago_s, ago_s, provider, msg_id);
	return th_sql_int(db, sql);
}

/* The notification ntf_<id> as GET /v1/notifications lists it (caller decrefs). */
static json_t *note(struct th_world *w, long long id)
{
	json_t *page = th_ok(&w->srv, "GET", "/v1/notifications?limit=100", w->ops, NULL, 200);
	char want[32];
	snprintf(want, sizeof want, "ntf_%lld", id);
	json_t *items = json_object_get(page, "items"), *x, *found = NULL;
	size_t i;
	json_array_foreach(items, i, x) if (!strcmp(json_string_value(json_object_get(x, "id")), want)) found =
		json_incref(x);
	json_decref(page);
	ck_assert_msg(found, "%s is not listed", want);
	return found;
}

static const char *str_of(json_t *x, const char *k)
{
	const char *s = json_string_value(json_object_get(x, k));
	return s ? s : "(null)";
}

static char *metrics(struct th_world *w)
{
	struct th_resp r = th_req(&w->srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	char *b = strdup(r.body);
	th_resp_free(&r);
	return b;
}

static void hook_url(struct th_world *w, const char *provider, const char *token, char *out, size_t n)
{
	if (token)
		snprintf(out, n, "http://127.0.0.1:%d/v1/webhooks/sms/%s?token=%s", w->srv.port, provider, token);
	else
		snprintf(out, n, "http://127.0.0.1:%d/v1/webhooks/sms/%s", w->srv.port, provider);
}

START_TEST(aliyun_report_moves_only_what_wattle_sent)
{
	fakes_start();
	const char *env[] = {"WATTLE_SMS_CALLBACK_TOKEN=" TOKEN, NULL};
	struct th_world w;
	th_world_start(&w, env, 0);
	char biz[128], other[128];
	send_one(&chan_aliyun, "+8613900001111", biz);
	send_one(&chan_aliyun, "+8613900002222", other);
	long long mine = sent_row(w.db, "aliyun", "+8613900001111", biz, 5);
	long long theirs = sent_row(w.db, "tencent", "+8613900002222", other, 5); /* same id, other provider */
	char url[256], *ans = NULL;
	hook_url(&w, "aliyun", NULL, url, sizeof url);
	ck_assert_int_eq(fakesms_report(fa, biz, true, NULL, url, NULL), 401);
	hook_url(&w, "aliyun", "cb-token-7Qx9wattlf", url, sizeof url);
	ck_assert_int_eq(fakesms_report(fa, biz, true, NULL, url, NULL), 401);
	json_t *x = note(&w, mine);
	ck_assert(json_is_null(json_object_get(x, "delivery")));
	json_decref(x);

	hook_url(&w, "aliyun", TOKEN, url, sizeof url);
	ck_assert_int_eq(fakesms_report(fa, biz, true, NULL, url, &ans), 200);
	json_t *a = json_loads(ans, 0, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "code")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "msg")), "成功");
	json_decref(a);
	free(ans);
	x = note(&w, mine);
	ck_assert_str_eq(str_of(x, "delivery"), "delivered");
	ck_assert_str_eq(str_of(x, "delivery_code"), "DELIVERED");
	ck_assert(json_is_string(json_object_get(x, "delivered_at")));
	json_decref(x);
	/* a later report of the same message does not overturn the first */
	ck_assert_int_eq(fakesms_report(fa, biz, false, "IS_CLOSE", url, NULL), 200);
	x = note(&w, mine);
	ck_assert_str_eq(str_of(x, "delivery"), "delivered");
	json_decref(x);
	/* Aliyun's report of `other` finds only a Tencent message with that id: ignored */
	ck_assert_int_eq(fakesms_report(fa, other, false, "IS_CLOSE", url, NULL), 200);
	x = note(&w, theirs);
	ck_assert(json_is_null(json_object_get(x, "delivery")));
	json_decref(x);
	/* a report by hand for a message nobody sent */
	struct th_resp r = th_req(&w.srv, "POST", "/v1/webhooks/sms/aliyun?token=" TOKEN, NULL,
				  "[{\"phone_number\":\"13900009999\",\"send_time\":\"2026-01-01 10:00:00\","
				  "\"report_time\":\"2026-01-01 10:00:05\",\"success\":true,\"err_code\":\"DELIVERED\","
				  "\"err_msg\":\"用户接收成功\",\"sms_size\":\"1\",\"biz_id\":\"123^0\",\"out_id\":\"\"}]",
				  NULL);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/webhooks/sms/aliyun?token=" TOKEN, NULL, "{\"biz_id\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM notifications WHERE delivery IS NOT NULL"), 1);
	char *m = metrics(&w);
	ck_assert_msg(strstr(m, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"delivered\"} 1\n"), "%s", m);
	ck_assert(strstr(m, "wattle_sms_reports_total{provider=\"aliyun\",outcome=\"unknown\"} 2\n"));
	ck_assert(strstr(m, "wattle_sms_reports_total{provider=\"aliyun\",outcome=\"duplicate\"} 1\n"));
	free(m);
	th_world_stop(&w);
	fakesms_stop(fa);
	fakesms_stop(ft);
}
END_TEST

START_TEST(tencent_report_undelivered_with_its_code)
{
	fakes_start();
	const char *env[] = {"WATTLE_SMS_CALLBACK_TOKEN=" TOKEN, NULL};
	struct th_world w;
	th_world_start(&w, env, 0);
	char sid[128];
	send_one(&chan_tencent, "+8613900001111", sid);
	long long id = sent_row(w.db, "tencent", "+8613900001111", sid, 5);
	char url[256], *ans = NULL;
	hook_url(&w, "tencent", "wrong", url, sizeof url);
	ck_assert_int_eq(fakesms_report(ft, sid, false, "MK:0005", url, NULL), 401);
	hook_url(&w, "tencent", TOKEN, url, sizeof url);
	ck_assert_int_eq(fakesms_report(ft, sid, false, "MK:0005", url, &ans), 200);
	json_t *a = json_loads(ans, 0, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "result")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "errmsg")), "OK");
	json_decref(a);
	free(ans);
	json_t *x = note(&w, id);
	ck_assert_str_eq(str_of(x, "delivery"), "undelivered");
	ck_assert_str_eq(str_of(x, "delivery_code"), "MK:0005");
	ck_assert(json_is_string(json_object_get(x, "delivered_at")));
	json_decref(x);
	char *m = metrics(&w);
	ck_assert(strstr(m, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"undelivered\"} 1\n"));
	free(m);
	th_world_stop(&w);
	fakesms_stop(fa);
	fakesms_stop(ft);
}
END_TEST

START_TEST(polling_records_what_the_providers_say)
{
	fakes_start();
	char e1[128], e2[128], e3[128], e4[128], e5[128], e6[128], e7[128], e8[128];
	snprintf(e1, sizeof e1, "WATTLE_ALIYUN_ACCESS_KEY_ID=%s", AK_ID);
	snprintf(e2, sizeof e2, "WATTLE_ALIYUN_ACCESS_KEY_SECRET=%s", AK_SECRET);
	snprintf(e3, sizeof e3, "WATTLE_ALIYUN_SMS_SIGN_NAME=%s", A_SIGN);
	snprintf(e4, sizeof e4, "WATTLE_ALIYUN_SMS_ENDPOINT=%s", abase);
	snprintf(e5, sizeof e5, "WATTLE_TENCENT_SECRET_ID=%s", TC_ID);
	snprintf(e6, sizeof e6, "WATTLE_TENCENT_SECRET_KEY=%s", TC_KEY);
	snprintf(e7, sizeof e7, "WATTLE_TENCENT_SMS_ENDPOINT=%s", tbase);
	snprintf(e8, sizeof e8, "WATTLE_TENCENT_SMS_SIGN_NAME=%s", TC_SIGN);
	const char *env[] = {e1, e2, e3, e4, e5, e6, e7, e8, "WATTLE_TENCENT_SMS_SDK_APP_ID=" TC_APP,
			     "WATTLE_SMS_DELIVERY=poll", "WATTLE_SMS_POLL_MS=200", NULL};
	struct th_world w;
	th_world_start(&w, env, 0);
	char b1[128], b2[128], b3[128], s1[128];
	send_one(&chan_aliyun, "+8613900001111", b1);
	send_one(&chan_aliyun, "+8613900002222", b2);
	send_one(&chan_aliyun, "+8613900003333", b3);
	send_one(&chan_tencent, "+8613900004444", s1);
	ck_assert_int_eq(fakesms_settle(fa, b1, true, NULL), 0);
	ck_assert_int_eq(fakesms_settle(fa, b2, false, "IS_CLOSE"), 0);
	ck_assert_int_eq(fakesms_settle(fa, b3, true, NULL), 0);
	ck_assert_int_eq(fakesms_settle(ft, s1, true, NULL), 0);
	long long n1 = sent_row(w.db, "aliyun", "+8613900001111", b1, 120);
	long long n2 = sent_row(w.db, "aliyun", "+8613900002222", b2, 120);
	long long young = sent_row(w.db, "aliyun", "+8613900003333", b3, 10); /* not a minute old */
	long long n4 = sent_row(w.db, "tencent", "+8613900004444", s1, 120);
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE delivery IS NOT NULL AND id IN (%lld, %lld, %lld)",
		 n1, n2, n4);
	for (int i = 0; i < 100 && th_sql_int(w.db, sql) < 3; i++)
		usleep(100 * 1000);
	json_t *x = note(&w, n1);
	ck_assert_str_eq(str_of(x, "delivery"), "delivered");
	ck_assert_str_eq(str_of(x, "delivery_code"), "DELIVERED");
	json_decref(x);
	x = note(&w, n2);
	ck_assert_str_eq(str_of(x, "delivery"), "undelivered");
	ck_assert_str_eq(str_of(x, "delivery_code"), "IS_CLOSE");
	json_decref(x);
	x = note(&w, n4);
	ck_assert_str_eq(str_of(x, "delivery"), "delivered");
	ck_assert_str_eq(str_of(x, "delivery_code"), "SUCCESS");
	json_decref(x);
	usleep(600 * 1000); /* a few more rounds */
	x = note(&w, young);
	ck_assert(json_is_null(json_object_get(x, "delivery")));
	json_decref(x);
	ck_assert_uint_eq(fakesms_refused(fa), 0);
	ck_assert_uint_eq(fakesms_refused(ft), 0);
	char *m = metrics(&w);
	ck_assert(strstr(m, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"delivered\"} 2\n"));
	ck_assert(strstr(m, "wattle_notification_delivery_total{channel=\"sms\",outcome=\"undelivered\"} 1\n"));
	free(m);
	th_world_stop(&w);
	fakesms_stop(fa);
	fakesms_stop(ft);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sms_delivery");
	TCase *c = tcase_create("core");
	tcase_set_timeout(c, 120);
	tcase_add_test(c, aliyun_report_moves_only_what_wattle_sent);
	tcase_add_test(c, tencent_report_undelivered_with_its_code);
	tcase_add_test(c, polling_records_what_the_providers_say);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return th_run(suite());
}
