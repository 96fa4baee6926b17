/* sms_aliyun.c: chan_aliyun, Aliyun (Alibaba Cloud) Dysmsapi SendSms, API version
 * 2017-05-25, signed with the V3 signature (ACS3-HMAC-SHA256 over the canonical request;
 * core/smssig.c), and QuerySendDetails for delivery polling. The parameters go in the query
 * string (RPC style, an empty body); the answer's Code decides: OK is sent (BizId kept),
 * throttling and the provider's own faults are retried, everything else is refused. */
#include "server/channels.h"
#include "server/sms.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/smssig.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static struct sms_aliyun_cfg acfg;

#define ALIYUN_DEFAULT_ENDPOINT "https://dysmsapi.aliyuncs.com"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

void chan_aliyun_configure(const struct sms_aliyun_cfg *c) { acfg = *c; }

static bool given(const char *s) { return s && *s; }

static bool aliyun_configured(void)
{
	return given(acfg.key_id) && given(acfg.key_secret) && given(acfg.sign_name);
}

/* An E.164 number as Aliyun writes it: the country code and the number without '+'
 * ("8613900001111"; Aliyun takes 86 before a mainland number, and wants other countries'
 * numbers so). Borrowed from to. */
static const char *aliyun_phone(const char *to)
{
	if (!to)
		return "";
	return to[0] == '+' ? to + 1 : to;
}

static const char *endpoint(void) { return given(acfg.endpoint) ? acfg.endpoint : ALIYUN_DEFAULT_ENDPOINT; }

/* Codes retrying can fix: throttling (per number, per account, the API's flow control), the
 * provider's own faults, and a used nonce (a new one comes with the retry). Also
 * isv.AMOUNT_NOT_ENOUGH: the message is right and the account needs money, which an operator
 * can add while the backoff runs (its code stays in last_code). */
static bool aliyun_retryable(const char *code)
{
	static const char *const exact[] = {"isv.BUSINESS_LIMIT_CONTROL", "isv.AMOUNT_NOT_ENOUGH", "ServiceUnavailable",
					    "InternalError", "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR",
					    "SignatureNonceUsed", "isv.OUT_OF_SERVICE", NULL};
	for (int i = 0; exact[i]; i++)
		if (!strcmp(code, exact[i]))
			return true;
	return !strncmp(code, "Throttling", 10) || !strncmp(code, "ServiceUnavailable", 18);
}

/* POST action with params (sorted here) to the endpoint, signed; the answer's status (0 with
 * o->message set when none came) and body into ans. */
static long aliyun_call(CURL *h, const char *action, struct sms_kv *kv, size_t n, struct srv_buf *ans,
			struct chan_outcome *o)
{
	struct srv_buf q = {0}, url = {0};
	sms_acs3_query(&q, kv, n);
	char host[256], date[32], nonce[33];
	sms_url_host(endpoint(), host, sizeof host);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
	unsigned char rnd[16];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		abort();
	for (int i = 0; i < 16; i++)
		snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
	struct sms_kv hd[] = {
		{"host", host},
		{"x-acs-action", action},
		{"x-acs-content-sha256", EMPTY_SHA256},
		{"x-acs-date", date},
		{"x-acs-signature-nonce", nonce},
		{"x-acs-version", "2017-05-25"},
	};
	char signed_headers[200], sig[65];
	sms_acs3_sign(acfg.key_secret, "POST", "/", q.p ? q.p : "", hd, sizeof hd / sizeof hd[0], EMPTY_SHA256,
		      signed_headers, sizeof signed_headers, sig, NULL);
	struct curl_slist *hl = NULL;
	char line[600];
	const char *names[] = {"Host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce",
			       "x-acs-version"};
	for (size_t i = 0; i < sizeof hd / sizeof hd[0]; i++) {
		snprintf(line, sizeof line, "%s: %s", names[i], hd[i].v);
		hl = curl_slist_append(hl, line);
	}
	snprintf(line, sizeof line, "Authorization: ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s",
		 acfg.key_id, signed_headers, sig);
	hl = curl_slist_append(hl, line);
	hl = curl_slist_append(hl, "Accept: application/json");
	hl = curl_slist_append(hl, "Expect:");
	srv_buf_printf(&url, "%s/?%s", endpoint(), q.p ? q.p : "");
	long status = sms_post(h, url.p, hl, "", acfg.timeout_ms, ans, o);
	srv_buf_free(&q);
	srv_buf_free(&url);
	return status;
}

static enum chan_result aliyun_send(CURL *h, const struct chan_msg *m, struct chan_outcome *o)
{
	memset(o, 0, sizeof *o);
	if (!given(m->template_id)) {
		o->result = CH_REFUSED;
		snprintf(o->code, sizeof o->code, "no_template");
		snprintf(o->message, sizeof o->message, "Aliyun sends only approved templates; this message has none");
		return o->result;
	}
	if (!aliyun_configured()) {
		o->result = CH_RETRY;
		snprintf(o->code, sizeof o->code, "not_configured");
		snprintf(o->message, sizeof o->message, "WATTLE_ALIYUN_ACCESS_KEY_ID, _SECRET and _SMS_SIGN_NAME are needed");
		return o->result;
	}
	json_t *tp = json_object();
	for (size_t i = 0; i < m->nparams; i++)
		json_object_set_new(tp, m->param_keys[i], json_string(m->param_vals[i] ? m->param_vals[i] : ""));
	char *tps = json_dumps(tp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(tp);
	char outid[32];
	snprintf(outid, sizeof outid, "ntf_%lld", (long long)m->notification_id);
	struct sms_kv kv[] = {
		{"PhoneNumbers", aliyun_phone(m->to)},
		{"SignName", acfg.sign_name},
		{"TemplateCode", m->template_id},
		{"TemplateParam", tps},
		{"OutId", outid},
	};
	struct srv_buf ans = {0};
	o->http_status = aliyun_call(h, "SendSms", kv, sizeof kv / sizeof kv[0], &ans, o);
	free(tps);
	if (!o->http_status) {
		o->result = CH_RETRY;
		snprintf(o->code, sizeof o->code, "no_answer");
		goto out;
	}
	json_t *j = json_loadb(ans.p ? ans.p : "", ans.len, 0, NULL);
	const char *code = json_string_value(json_object_get(j, "Code"));
	const char *msg = json_string_value(json_object_get(j, "Message"));
	const char *biz = json_string_value(json_object_get(j, "BizId"));
	snprintf(o->code, sizeof o->code, "%s", code ? code : "");
	snprintf(o->message, sizeof o->message, "%s", msg ? msg : "");
	if (o->http_status == 200 && code && !strcmp(code, "OK") && given(biz)) {
		o->result = CH_SENT;
		snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%s", biz);
	} else if (o->http_status >= 500 || o->http_status == 429 || !code || aliyun_retryable(code)) {
		o->result = CH_RETRY; /* a 5xx, or an answer that is not Aliyun's: the provider's trouble */
		/* the API's flow control (Throttling, Throttling.User, Throttling.Api) limits the
		 * account; isv.BUSINESS_LIMIT_CONTROL is one number's frequency limit */
		o->throttled = o->http_status == 429 || (code && !strncmp(code, "Throttling", 10));
		if (!code)
			snprintf(o->message, sizeof o->message, "HTTP %ld without an Aliyun answer", o->http_status);
	} else {
		o->result = CH_REFUSED;
	}
	json_decref(j);
out:
	srv_buf_free(&ans);
	return o->result;
}

int sms_aliyun_query(CURL *h, const char *phone, const char *biz_id, const char *send_date, struct sms_report *r)
{
	if (!aliyun_configured())
		return -1;
	struct sms_kv kv[] = {
		{"PhoneNumber", aliyun_phone(phone)}, {"BizId", biz_id}, {"SendDate", send_date}, {"PageSize", "10"}, {"CurrentPage", "1"},
	};
	struct srv_buf ans = {0};
	long st = aliyun_call(h, "QuerySendDetails", kv, sizeof kv / sizeof kv[0], &ans, NULL);
	json_t *j = st == 200 ? json_loadb(ans.p ? ans.p : "", ans.len, 0, NULL) : NULL;
	srv_buf_free(&ans);
	const char *code = json_string_value(json_object_get(j, "Code"));
	if (!code || strcmp(code, "OK")) {
		if (st)
			srv_log(LOG_WARN, "aliyun: QuerySendDetails %s: HTTP %ld %s", biz_id, st, code ? code : "");
		json_decref(j);
		return -1;
	}
	json_t *list = json_object_get(json_object_get(j, "SmsSendDetailDTOs"), "SmsSendDetailDTO");
	int found = 0;
	size_t i;
	json_t *d;
	json_array_foreach(list, i, d) {
		json_t *ss = json_object_get(d, "SendStatus");
		long long s = json_is_integer(ss) ? json_integer_value(ss) : 0;
		if (s != 2 && s != 3)
			continue; /* 1: waiting for the handset's report */
		memset(r, 0, sizeof *r);
		snprintf(r->msg_id, sizeof r->msg_id, "%s", biz_id);
		snprintf(r->phone, sizeof r->phone, "%s", phone);
		r->delivered = s == 3;
		const char *ec = json_string_value(json_object_get(d, "ErrCode"));
		snprintf(r->code, sizeof r->code, "%s", ec ? ec : (s == 3 ? "DELIVERED" : "FAILED"));
		const char *rd = json_string_value(json_object_get(d, "ReceiveDate"));
		struct tm tm = {0};
		/* "2019-01-08 16:44:13", China time (UTC+8) */
		if (rd && strptime(rd, "%Y-%m-%d %H:%M:%S", &tm))
			r->at_s = (int64_t)timegm(&tm) - 8 * 3600;
		found = 1;
		break;
	}
	json_decref(j);
	return found;
}

const struct chan_carrier chan_aliyun = {"aliyun", aliyun_send, aliyun_configured};
