/* test_sms_carriers.c: wattle's SMS carriers chan_aliyun (server/sms_aliyun.c) and
 * chan_tencent (server/sms_tencent.c) against the fakes (tools/fakemsg), in-process, no
 * database: a message sent (the provider's id kept, the fake holding exactly the phone,
 * template and parameters sent), every class of refusal (CH_REFUSED), throttling and slow or
 * failing providers (CH_RETRY), a wrong secret refused by the fake's own recomputation of the
 * signature, and the delivery queries (QuerySendDetails, PullSmsSendStatus). The signatures
 * are pinned by the providers' published examples, and the fakes' checks by requests built
 * by hand (a stale time, a reused nonce, a tampered parameter). */
#include "harness.h"

#include "core/smssig.h"
#include "fake_sms.h"
#include "server/channels.h"
#include "server/sms.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AK_ID "LTAI5tWattleTest"
#define AK_SECRET "wattle-aliyun-secret-0123456789"
#define A_SIGN "瓦特电费"
#define TC_ID "AKIDwattleTestSecretId0123456789"
#define TC_KEY "wattleTencentSecretKey0123456789"
#define TC_APP "1400787878"
#define TC_SIGN "瓦特科技"

static struct fakesms *fa, *ft;
static char abase[64], tbase[64];
static CURL *h;

static void aliyun_with(const char *id, const char *secret, const char *sign, int64_t timeout_ms)
{
	struct sms_aliyun_cfg c = {id, secret, sign, abase, timeout_ms};
	chan_aliyun_configure(&c);
}

static void tencent_with(const char *id, const char *key, const char *app, const char *sign, int64_t timeout_ms)
{
	struct sms_tencent_cfg c = {id, key, app, sign, tbase, NULL, timeout_ms};
	chan_tencent_configure(&c);
}

static void setup(void)
{
	fa = fakesms_start("aliyun", AK_ID, AK_SECRET, A_SIGN, NULL);
	ft = fakesms_start("tencent", TC_ID, TC_KEY, TC_SIGN, TC_APP);
	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(ft);
	fakesms_base(fa, abase, sizeof abase);
	fakesms_base(ft, tbase, sizeof tbase);
	const char *names[] = {"name", "balance"};
	fakesms_template(fa, "SMS_4650001", 2, names);
	fakesms_template(ft, "1110001", 2, NULL);
	aliyun_with(AK_ID, AK_SECRET, A_SIGN, 3000);
	tencent_with(TC_ID, TC_KEY, TC_APP, TC_SIGN, 3000);
	h = curl_easy_init();
}

static void teardown(void)
{
	curl_easy_cleanup(h);
	fakesms_stop(fa);
	fakesms_stop(ft);
}

static const char *const keys[] = {"name", "balance"};
static const char *const tkeys[] = {"1", "2"};
static const char *const vals[] = {"A 区 101 & 茶饮", "12.50"};

static struct chan_msg amsg(const char *to, const char *tpl)
{
	return (struct chan_msg){.notification_id = 42, .to = to, .language = "zh-CN", .text = "余额不足",
				 .template_id = tpl, .param_keys = keys, .param_vals = vals, .nparams = 2};
}

static struct chan_msg tmsg(const char *to, const char *tpl)
{
	struct chan_msg m = amsg(to, tpl);
	m.param_keys = tkeys;
	return m;
}

/* ---- the published examples ---- */

/* Aliyun's V3 document signs RunInstances (POST /, two query parameters, an empty body) with
 * YourAccessKeyId / YourAccessKeySecret at 2023-10-26T10:22:32Z. */
START_TEST(aliyun_signature_is_the_documented_one)
{
	struct sms_kv q[] = {{"RegionId", "cn-shanghai"},
			     {"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}};
	struct srv_buf qs = {0}, canon = {0};
	sms_acs3_query(&qs, q, 2);
	ck_assert_str_eq(qs.p, "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai");
	const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct sms_kv hd[] = {{"host", "ecs.cn-shanghai.aliyuncs.com"}, {"x-acs-action", "RunInstances"},
			      {"x-acs-content-sha256", empty},          {"x-acs-date", "2023-10-26T10:22:32Z"},
			      {"x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"},
			      {"x-acs-version", "2014-05-26"}};
	char sh[200], sig[65], hc[65];
	sms_acs3_sign("YourAccessKeySecret", "POST", "/", qs.p, hd, 6, empty, sh, sizeof sh, sig, &canon);
	ck_assert_str_eq(sh, "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version");
	sms_sha256_hex(canon.p, canon.len, hc);
	ck_assert_str_eq(hc, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
	ck_assert_str_eq(sig, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
	srv_buf_free(&qs);
	srv_buf_free(&canon);
	/* RFC 3986: a space is %20, '*' and '~' as the RFC says, UTF-8 byte by byte */
	struct srv_buf e = {0};
	sms_rfc3986(&e, "a b*~+/电");
	ck_assert_str_eq(e.p, "a%20b%2A~%2B%2F%E7%94%B5");
	srv_buf_free(&e);
}
END_TEST

/* Tencent's signature v3 document signs CVM DescribeInstances at 1551113065 (2019-02-25). */
START_TEST(tencent_signature_is_the_documented_one)
{
	const char *payload = "{\"Limit\": 1, \"Filters\": [{\"Values\": [\"\\u672a\\u547d\\u540d\"], \"Name\": \"instance-name\"}]}";
	char date[11], sig[65];
	sms_tc3_sign("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", "cvm.tencentcloudapi.com",
		     "application/json; charset=utf-8", 1551113065, payload, strlen(payload), date, sig);
	ck_assert_str_eq(date, "2019-02-25");
	ck_assert_str_eq(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
	/* a byte more in the body is another signature */
	sms_tc3_sign("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", "cvm.tencentcloudapi.com",
		     "application/json; charset=utf-8", 1551113065, payload, strlen(payload) - 1, date, sig);
	ck_assert_str_ne(sig, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
}
END_TEST

/* ---- Aliyun ---- */

START_TEST(aliyun_sent_keeps_the_bizid)
{
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_SENT);
	ck_assert_str_eq(o.code, "OK");
	ck_assert_int_eq(o.http_status, 200);
	ck_assert_int_eq(fakesms_count(fa), 1);
	struct fake_sms_msg x;
	ck_assert_int_eq(fakesms_msg(fa, 0, &x), 0);
	ck_assert_str_eq(o.provider_msg_id, x.msg_id);
	ck_assert_ptr_nonnull(strchr(x.msg_id, '^'));
	ck_assert_str_eq(x.phone, "8613900001111"); /* E.164 without '+', as Aliyun takes it */
	ck_assert_str_eq(x.tpl, "SMS_4650001");
	ck_assert_str_eq(x.out_id, "ntf_42");
	json_t *p = json_loads(x.params, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(p, "name")), "A 区 101 & 茶饮");
	ck_assert_str_eq(json_string_value(json_object_get(p, "balance")), "12.50");
	json_decref(p);
	ck_assert_uint_eq(fakesms_refused(fa), 0);
	ck_assert(chan_aliyun.configured());
}
END_TEST

START_TEST(aliyun_refusals_are_refused)
{
	struct chan_outcome o;
	struct chan_msg m = amsg("+8613900001111", "SMS_9999999"); /* not approved */
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "isv.SMS_TEMPLATE_ILLEGAL");
	m = amsg("not-a-phone", "SMS_4650001");
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "isv.MOBILE_NUMBER_ILLEGAL");
	m = amsg("+8613900001111", "SMS_4650001");
	m.nparams = 1; /* the template wants two */
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "isv.TEMPLATE_MISSING_PARAMETERS");
	m = amsg("+8613900001111", NULL);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "no_template");
	m = amsg("+8613900001111", "SMS_4650001");
	fakesms_fail_next(fa, "isv.BLACK_KEY_CONTROL_LIMIT", 1);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "isv.BLACK_KEY_CONTROL_LIMIT");
	aliyun_with(AK_ID, AK_SECRET, "别的签名", 3000);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "isv.SMS_SIGNATURE_ILLEGAL");
	ck_assert_int_eq(fakesms_count(fa), 0);
}
END_TEST

START_TEST(aliyun_throttled_is_retried)
{
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	fakesms_fail_next(fa, "isv.BUSINESS_LIMIT_CONTROL", 1);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "isv.BUSINESS_LIMIT_CONTROL");
	ck_assert_int_eq(fakesms_count(fa), 0);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_SENT); /* the retry goes */
	ck_assert_int_eq(fakesms_count(fa), 1);
	fakesms_fail_next(fa, "isv.AMOUNT_NOT_ENOUGH", 1);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	fakesms_fail_next(fa, "Throttling.User", 1);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "Throttling.User");
}
END_TEST

START_TEST(aliyun_wrong_secret_is_refused_by_the_fake)
{
	aliyun_with(AK_ID, "not-the-secret", A_SIGN, 3000);
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_int_eq(o.http_status, 400);
	ck_assert_str_eq(o.code, "SignatureDoesNotMatch");
	ck_assert_uint_eq(fakesms_refused(fa), 1);
	aliyun_with("LTAI-unknown", AK_SECRET, A_SIGN, 3000);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "InvalidAccessKeyId.NotFound");
	ck_assert_int_eq(fakesms_count(fa), 0);
}
END_TEST

START_TEST(aliyun_slow_or_failing_is_retried)
{
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	aliyun_with(AK_ID, AK_SECRET, A_SIGN, 300);
	fakesms_delay(fa, 1500);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_int_eq(o.http_status, 0);
	ck_assert_str_eq(o.code, "no_answer");
	fakesms_delay(fa, 0);
	/* a 500 from something that is not Aliyun's API */
	static struct th_peer p; /* zeroed: th_peer_start sets it up */
	th_peer_start(&p, 0);
	p.fail_next = 1;
	snprintf(abase, sizeof abase, "http://127.0.0.1:%d", p.port);
	aliyun_with(AK_ID, AK_SECRET, A_SIGN, 3000);
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_int_eq(o.http_status, 500);
	th_peer_stop(&p);
	snprintf(abase, sizeof abase, "http://127.0.0.1:%d", th_free_port());
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_int_eq(o.http_status, 0);
}
END_TEST

START_TEST(aliyun_query_send_details)
{
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_SENT);
	char day[9];
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(day, sizeof day, "%Y%m%d", &tm);
	struct sms_report r;
	ck_assert_int_eq(sms_aliyun_query(h, "+8613900001111", o.provider_msg_id, day, &r), 0); /* waiting */
	ck_assert_int_eq(fakesms_settle(fa, o.provider_msg_id, false, "IS_CLOSE"), 0);
	ck_assert_int_eq(sms_aliyun_query(h, "+8613900001111", o.provider_msg_id, day, &r), 1);
	ck_assert(!r.delivered);
	ck_assert_str_eq(r.code, "IS_CLOSE");
	ck_assert_str_eq(r.msg_id, o.provider_msg_id);
	ck_assert_int_ge(r.at_s, (int64_t)time(NULL) - 5);
	ck_assert_int_le(r.at_s, (int64_t)time(NULL) + 1);
	ck_assert_int_eq(fakesms_settle(fa, o.provider_msg_id, true, NULL), 0);
	ck_assert_int_eq(sms_aliyun_query(h, "+8613900001111", o.provider_msg_id, day, &r), 1);
	ck_assert(r.delivered);
	ck_assert_str_eq(r.code, "DELIVERED");
}
END_TEST

/* ---- the Aliyun fake's checks, by hand ---- */

struct raw {
	long status;
	char body[4096];
	size_t n;
};

static size_t raw_put(char *d, size_t s, size_t nm, void *ud)
{
	struct raw *r = ud;
	size_t k = s * nm;
	if (r->n + k >= sizeof r->body)
		k = sizeof r->body - 1 - r->n;
	memcpy(r->body + r->n, d, k);
	r->n += k;
	r->body[r->n] = 0;
	return s * nm;
}

static struct raw post(const char *url, const char *body, struct curl_slist *hs)
{
	struct raw r = {0};
	CURL *c = curl_easy_init();
	hs = curl_slist_append(hs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_put);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	return r;
}

static const char *code_of(const struct raw *r, char *buf, size_t n)
{
	json_t *j = json_loads(r->body, 0, NULL);
	json_t *c = json_object_get(j, "Code");
	if (!c)
		c = json_object_get(json_object_get(json_object_get(j, "Response"), "Error"), "Code");
	snprintf(buf, n, "%s", json_string_value(c) ? json_string_value(c) : "");
	json_decref(j);
	return buf;
}

/* SendSms signed by hand at date with nonce; the URL's query may differ from the signed one. */
static struct raw aliyun_hand(const char *date, const char *nonce, const char *phone_sent)
{
	struct sms_kv q[] = {{"PhoneNumbers", "+8613900001111"}, {"SignName", A_SIGN}, {"TemplateCode", "SMS_4650001"},
			     {"TemplateParam", "{\"name\":\"x\",\"balance\":\"1\"}"}};
	struct srv_buf qs = {0};
	sms_acs3_query(&qs, q, 4);
	char host[64];
	snprintf(host, sizeof host, "127.0.0.1:%d", fa->port);
	const char *empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct sms_kv hd[] = {{"host", host},  {"x-acs-action", "SendSms"},       {"x-acs-content-sha256", empty},
			      {"x-acs-date", date}, {"x-acs-signature-nonce", nonce}, {"x-acs-version", "2017-05-25"}};
	char sh[200], sig[65], line[400], url[1024];
	sms_acs3_sign(AK_SECRET, "POST", "/", qs.p, hd, 6, empty, sh, sizeof sh, sig, NULL);
	struct curl_slist *hs = NULL;
	const char *names[] = {"Host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
			       "x-acs-version"};
	for (int i = 0; i < 6; i++) {
		snprintf(line, sizeof line, "%s: %s", names[i], hd[i].v);
		hs = curl_slist_append(hs, line);
	}
	snprintf(line, sizeof line, "Authorization: ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s", AK_ID,
		 sh, sig);
	hs = curl_slist_append(hs, line);
	if (phone_sent) { /* a tampered query: another number than the one signed */
		struct sms_kv q2[] = {{"PhoneNumbers", phone_sent}, {"SignName", A_SIGN}, {"TemplateCode", "SMS_4650001"},
				      {"TemplateParam", "{\"name\":\"x\",\"balance\":\"1\"}"}};
		srv_buf_clear(&qs);
		sms_acs3_query(&qs, q2, 4);
	}
	snprintf(url, sizeof url, "%s/?%s", abase, qs.p);
	srv_buf_free(&qs);
	return post(url, "", hs);
}

static void iso(int64_t s, char out[32])
{
	time_t t = (time_t)s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

START_TEST(aliyun_fake_checks_time_nonce_and_query)
{
	char now[32], old[32], c[80];
	iso((int64_t)time(NULL), now);
	iso((int64_t)time(NULL) - 16 * 60, old);
	struct raw r = aliyun_hand(now, "n-0001", NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "OK"); /* the hand-built request is right */
	r = aliyun_hand(now, "n-0001", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "SignatureNonceUsed");
	r = aliyun_hand(old, "n-0002", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "InvalidTimeStamp.Expired");
	r = aliyun_hand(now, "n-0003", "+8613900002222");
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "SignatureDoesNotMatch");
	/* no Authorization at all */
	char url[128];
	snprintf(url, sizeof url, "%s/?PhoneNumbers=1", abase);
	r = post(url, "", curl_slist_append(NULL, "x-acs-action: SendSms"));
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "IncompleteSignature");
	ck_assert_int_eq(fakesms_count(fa), 1);
}
END_TEST

/* ---- Tencent ---- */

START_TEST(tencent_sent_keeps_the_serialno)
{
	struct chan_msg m = tmsg("+8613900001111", "1110001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_SENT);
	ck_assert_str_eq(o.code, "Ok");
	ck_assert_int_eq(fakesms_count(ft), 1);
	struct fake_sms_msg x;
	ck_assert_int_eq(fakesms_msg(ft, 0, &x), 0);
	ck_assert_str_eq(o.provider_msg_id, x.msg_id);
	ck_assert_str_eq(x.phone, "+8613900001111");
	ck_assert_str_eq(x.tpl, "1110001");
	ck_assert_str_eq(x.params, "[\"A 区 101 & 茶饮\",\"12.50\"]"); /* positional, in order */
	ck_assert_str_eq(x.out_id, "ntf_42");
	ck_assert_uint_eq(fakesms_refused(ft), 0);
	ck_assert(chan_tencent.configured());
}
END_TEST

START_TEST(tencent_refusals_are_refused)
{
	struct chan_outcome o;
	struct chan_msg m = tmsg("+8613900001111", "9999999");
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "FailedOperation.TemplateIncorrectOrUnapproved");
	m = tmsg("13900001111", "1110001"); /* not E.164 */
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "InvalidParameterValue.IncorrectPhoneNumber");
	m = tmsg("+8613900001111", "1110001");
	m.nparams = 1;
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "FailedOperation.TemplateParamSetNotMatchApprovedTemplate");
	m = tmsg("+8613900001111", "");
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "no_template");
	m = tmsg("+8613900001111", "1110001");
	fakesms_fail_next(ft, "FailedOperation.PhoneNumberInBlacklist", 1);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "FailedOperation.PhoneNumberInBlacklist");
	tencent_with(TC_ID, TC_KEY, "1400000000", TC_SIGN, 3000);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "InvalidParameterValue.SdkAppIdNotExist");
	tencent_with(TC_ID, TC_KEY, TC_APP, "别的签名", 3000);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "FailedOperation.SignatureIncorrectOrUnapproved");
	ck_assert_int_eq(fakesms_count(ft), 0);
}
END_TEST

START_TEST(tencent_throttled_is_retried)
{
	struct chan_msg m = tmsg("+8613900001111", "1110001");
	struct chan_outcome o;
	fakesms_fail_next(ft, "LimitExceeded.PhoneNumberThirtySecondLimit", 1);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "LimitExceeded.PhoneNumberThirtySecondLimit");
	fakesms_fail_next(ft, "RequestLimitExceeded", 1);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "RequestLimitExceeded");
	fakesms_fail_next(ft, "LimitExceeded.PhoneNumberDailyLimit", 1);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_RETRY);
	ck_assert_int_eq(fakesms_count(ft), 0);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_SENT);
}
END_TEST

START_TEST(tencent_wrong_secret_is_refused_by_the_fake)
{
	tencent_with(TC_ID, "not-the-key", TC_APP, TC_SIGN, 3000);
	struct chan_msg m = tmsg("+8613900001111", "1110001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_int_eq(o.http_status, 200);
	ck_assert_str_eq(o.code, "AuthFailure.SignatureFailure");
	ck_assert_uint_eq(fakesms_refused(ft), 1);
	tencent_with("AKIDunknown", TC_KEY, TC_APP, TC_SIGN, 3000);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_REFUSED);
	ck_assert_str_eq(o.code, "AuthFailure.SecretIdNotFound");
	ck_assert_int_eq(fakesms_count(ft), 0);
}
END_TEST

START_TEST(tencent_slow_is_retried)
{
	tencent_with(TC_ID, TC_KEY, TC_APP, TC_SIGN, 300);
	fakesms_delay(ft, 1500);
	struct chan_msg m = tmsg("+8613900001111", "1110001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_RETRY);
	ck_assert_int_eq(o.http_status, 0);
}
END_TEST

/* TC3 signed by hand at ts; body_sent may differ from the body signed. */
static struct raw tencent_hand(int64_t ts, const char *body, const char *body_sent)
{
	char host[64], date[11], sig[65], line[400], url[128];
	snprintf(host, sizeof host, "127.0.0.1:%d", ft->port);
	sms_tc3_sign(TC_KEY, "sms", host, "application/json; charset=utf-8", ts, body, strlen(body), date, sig);
	struct curl_slist *hs = NULL;
	snprintf(line, sizeof line,
		 "Authorization: TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, Signature=%s",
		 TC_ID, date, sig);
	hs = curl_slist_append(hs, line);
	hs = curl_slist_append(hs, "Content-Type: application/json; charset=utf-8");
	snprintf(line, sizeof line, "X-TC-Timestamp: %lld", (long long)ts);
	hs = curl_slist_append(hs, line);
	hs = curl_slist_append(hs, "X-TC-Action: SendSms");
	hs = curl_slist_append(hs, "X-TC-Version: 2021-01-11");
	hs = curl_slist_append(hs, "X-TC-Region: ap-guangzhou");
	snprintf(url, sizeof url, "%s/", tbase);
	return post(url, body_sent ? body_sent : body, hs);
}

START_TEST(tencent_fake_checks_time_and_body)
{
	const char *b = "{\"PhoneNumberSet\":[\"+8613900001111\"],\"SmsSdkAppId\":\"" TC_APP "\",\"SignName\":\"" TC_SIGN
			"\",\"TemplateId\":\"1110001\",\"TemplateParamSet\":[\"a\",\"b\"]}";
	const char *b2 = "{\"PhoneNumberSet\":[\"+8613900002222\"],\"SmsSdkAppId\":\"" TC_APP "\",\"SignName\":\"" TC_SIGN
			 "\",\"TemplateId\":\"1110001\",\"TemplateParamSet\":[\"a\",\"b\"]}";
	char c[80];
	struct raw r = tencent_hand((int64_t)time(NULL), b, NULL);
	ck_assert(strstr(r.body, "\"Code\":\"Ok\""));
	r = tencent_hand((int64_t)time(NULL) - 400, b, NULL);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "AuthFailure.SignatureExpire");
	r = tencent_hand((int64_t)time(NULL), b, b2);
	ck_assert_str_eq(code_of(&r, c, sizeof c), "AuthFailure.SignatureFailure");
	ck_assert_int_eq(fakesms_count(ft), 1);
}
END_TEST

START_TEST(tencent_pull_send_status)
{
	struct chan_msg m = tmsg("+8613900001111", "1110001");
	struct chan_outcome o1, o2;
	ck_assert_int_eq(chan_tencent.send(h, &m, &o1), CH_SENT);
	ck_assert_int_eq(chan_tencent.send(h, &m, &o2), CH_SENT);
	struct sms_report r[8];
	ck_assert_int_eq(sms_tencent_pull(h, r, 8), 0);
	ck_assert_int_eq(fakesms_settle(ft, o2.provider_msg_id, false, "MK:0005"), 0);
	ck_assert_int_eq(sms_tencent_pull(h, r, 8), 1);
	ck_assert_str_eq(r[0].msg_id, o2.provider_msg_id);
	ck_assert(!r[0].delivered);
	ck_assert_str_eq(r[0].code, "MK:0005");
	ck_assert_int_eq(fakesms_settle(ft, o1.provider_msg_id, true, NULL), 0);
	ck_assert_int_eq(sms_tencent_pull(h, r, 8), 1); /* each report once */
	ck_assert_str_eq(r[0].msg_id, o1.provider_msg_id);
	ck_assert(r[0].delivered);
	ck_assert_str_eq(r[0].phone, "+8613900001111");
	ck_assert_int_eq(sms_tencent_pull(h, r, 8), 0);
}
END_TEST

START_TEST(not_configured_is_retried_not_sent)
{
	struct sms_aliyun_cfg a = {0};
	chan_aliyun_configure(&a);
	struct sms_tencent_cfg t = {0};
	chan_tencent_configure(&t);
	ck_assert(!chan_aliyun.configured());
	ck_assert(!chan_tencent.configured());
	struct chan_msg m = amsg("+8613900001111", "SMS_4650001");
	struct chan_outcome o;
	ck_assert_int_eq(chan_aliyun.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "not_configured");
	m = tmsg("+8613900001111", "1110001");
	ck_assert_int_eq(chan_tencent.send(h, &m, &o), CH_RETRY);
	ck_assert_str_eq(o.code, "not_configured");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sms_carriers");
	TCase *c = tcase_create("core");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 30);
	tcase_add_test(c, aliyun_signature_is_the_documented_one);
	tcase_add_test(c, tencent_signature_is_the_documented_one);
	tcase_add_test(c, aliyun_sent_keeps_the_bizid);
	tcase_add_test(c, aliyun_refusals_are_refused);
	tcase_add_test(c, aliyun_throttled_is_retried);
	tcase_add_test(c, aliyun_query_send_details);
	tcase_add_test(c, tencent_sent_keeps_the_serialno);
	tcase_add_test(c, tencent_refusals_are_refused);
	tcase_add_test(c, tencent_throttled_is_retried);
	tcase_add_test(c, tencent_pull_send_status);
	suite_add_tcase(s, c);
	TCase *l = tcase_create("limits");
	tcase_add_checked_fixture(l, setup, teardown);
	tcase_set_timeout(l, 30);
	tcase_add_test(l, aliyun_wrong_secret_is_refused_by_the_fake);
	tcase_add_test(l, aliyun_slow_or_failing_is_retried);
	tcase_add_test(l, aliyun_fake_checks_time_nonce_and_query);
	tcase_add_test(l, tencent_wrong_secret_is_refused_by_the_fake);
	tcase_add_test(l, tencent_slow_is_retried);
	tcase_add_test(l, tencent_fake_checks_time_and_body);
	tcase_add_test(l, not_configured_is_retried_not_sent);
	suite_add_tcase(s, l);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return th_run(suite());
}
