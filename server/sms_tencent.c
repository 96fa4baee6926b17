/* sms_tencent.c: chan_tencent, Tencent Cloud SMS SendSms (API 3.0, version 2021-01-11),
 * signed TC3-HMAC-SHA256 (the date-scoped derived key; core/smssig.c), and
 * PullSmsSendStatus for delivery polling. Tencent answers HTTP 200 whatever happened: the
 * request's fate is Response.Error.Code, the message's SendStatusSet[0].Code ("Ok" is sent,
 * SerialNo kept). Region: WATTLE_TENCENT_SMS_REGION, ap-guangzhou by default (Tencent's SMS
 * region for the mainland). */
#include "server/channels.h"
#include "server/sms.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/smssig.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct sms_tencent_cfg tcfg;

#define TENCENT_DEFAULT_ENDPOINT "https://sms.tencentcloudapi.com"
#define TC_CTYPE "application/json; charset=utf-8"

void chan_tencent_configure(const struct sms_tencent_cfg *c) { tcfg = *c; }

static bool given(const char *s) { return s && *s; }

static bool tencent_configured(void)
{
	return given(tcfg.secret_id) && given(tcfg.secret_key) && given(tcfg.sdk_app_id) && given(tcfg.sign_name);
}

static const char *endpoint(void) { return given(tcfg.endpoint) ? tcfg.endpoint : TENCENT_DEFAULT_ENDPOINT; }

/* Codes retrying can fix: the API's and the number's rate limits (LimitExceeded.*: per 30 s,
 * per hour, per day; the backoff grows to 5 min, so a daily limit ends the eight tries
 * dead, later than a refusal would), the provider's faults, and an SMS package run dry
 * (an operator can buy one while the backoff runs). Everything else (a bad signature, an
 * unapproved template or sign, a bad or blacklisted number) is refused. */
static bool tencent_retryable(const char *code)
{
	return !strncmp(code, "LimitExceeded", 13) || !strncmp(code, "RequestLimitExceeded", 20) ||
	       !strncmp(code, "InternalError", 13) || !strcmp(code, "FailedOperation.InsufficientBalanceInSmsPackage") ||
	       !strcmp(code, "ResourceUnavailable") || !strncmp(code, "FailedOperation.ServiceBusy", 27);
}

/* POST the JSON body as action; the status (0: none, o->message set) and the answer. */
static long tencent_call(CURL *h, const char *action, const char *body, struct srv_buf *ans, struct chan_outcome *o)
{
	char host[256], date[11], sig[65], line[700];
	sms_url_host(endpoint(), host, sizeof host);
	int64_t ts = (int64_t)time(NULL);
	sms_tc3_sign(tcfg.secret_key, "sms", host, TC_CTYPE, ts, body, strlen(body), date, sig);
	struct curl_slist *hl = NULL;
	snprintf(line, sizeof line, "Authorization: TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, "
		 "SignedHeaders=content-type;host, Signature=%s", tcfg.secret_id, date, sig);
	hl = curl_slist_append(hl, line);
	hl = curl_slist_append(hl, "Content-Type: " TC_CTYPE);
	snprintf(line, sizeof line, "Host: %s", host);
	hl = curl_slist_append(hl, line);
	snprintf(line, sizeof line, "X-TC-Action: %s", action);
	hl = curl_slist_append(hl, line);
	hl = curl_slist_append(hl, "X-TC-Version: 2021-01-11");
	snprintf(line, sizeof line, "X-TC-Timestamp: %lld", (long long)ts);
	hl = curl_slist_append(hl, line);
	snprintf(line, sizeof line, "X-TC-Region: %s", given(tcfg.region) ? tcfg.region : "ap-guangzhou");
	hl = curl_slist_append(hl, line);
	hl = curl_slist_append(hl, "Expect:");
	char url[600];
	snprintf(url, sizeof url, "%s/", endpoint());
	return sms_post(h, url, hl, body, tcfg.timeout_ms, ans, o);
}

static void classify(struct chan_outcome *o, const char *code, const char *msg)
{
	snprintf(o->code, sizeof o->code, "%s", code);
	snprintf(o->message, sizeof o->message, "%s", msg ? msg : "");
	o->result = tencent_retryable(code) ? CH_RETRY : CH_REFUSED;
	/* the API's request rate limits the account; LimitExceeded.* are one number's or a day's */
	o->throttled = !strncmp(code, "RequestLimitExceeded", 20);
}

static enum chan_result tencent_send(CURL *h, const struct chan_msg *m, struct chan_outcome *o)
{
	memset(o, 0, sizeof *o);
	if (!given(m->template_id)) {
		o->result = CH_REFUSED;
		snprintf(o->code, sizeof o->code, "no_template");
		snprintf(o->message, sizeof o->message, "Tencent Cloud sends only approved templates; this message has none");
		return o->result;
	}
	if (!tencent_configured()) {
		o->result = CH_RETRY;
		snprintf(o->code, sizeof o->code, "not_configured");
		snprintf(o->message, sizeof o->message,
			 "WATTLE_TENCENT_SECRET_ID, _SECRET_KEY, _SMS_SDK_APP_ID and _SMS_SIGN_NAME are needed");
		return o->result;
	}
	json_t *params = json_array();
	for (size_t i = 0; i < m->nparams; i++) /* positional: the keys "1", "2", ... are in order */
		json_array_append_new(params, json_string(m->param_vals[i] ? m->param_vals[i] : ""));
	char ctx[32];
	snprintf(ctx, sizeof ctx, "ntf_%lld", (long long)m->notification_id);
	json_t *b = json_pack("{s:[s], s:s, s:s, s:s, s:o, s:s}", "PhoneNumberSet", m->to ? m->to : "", "SmsSdkAppId",
			      tcfg.sdk_app_id, "SignName", tcfg.sign_name, "TemplateId", m->template_id,
			      "TemplateParamSet", params, "SessionContext", ctx);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	struct srv_buf ans = {0};
	o->http_status = tencent_call(h, "SendSms", body, &ans, o);
	free(body);
	if (!o->http_status) {
		o->result = CH_RETRY;
		snprintf(o->code, sizeof o->code, "no_answer");
		goto out;
	}
	json_t *j = json_loadb(ans.p ? ans.p : "", ans.len, 0, NULL);
	json_t *resp = json_object_get(j, "Response");
	json_t *err = json_object_get(resp, "Error");
	json_t *set = json_object_get(resp, "SendStatusSet");
	if (o->http_status >= 500 || !json_is_object(resp)) {
		o->result = CH_RETRY;
		snprintf(o->message, sizeof o->message, "HTTP %ld without a Tencent answer", o->http_status);
	} else if (json_is_object(err)) {
		const char *code = json_string_value(json_object_get(err, "Code"));
		classify(o, code ? code : "", json_string_value(json_object_get(err, "Message")));
	} else if (json_array_size(set) != 1) {
		o->result = CH_RETRY;
		snprintf(o->message, sizeof o->message, "SendStatusSet has %zu entries for one number", json_array_size(set));
	} else {
		json_t *s = json_array_get(set, 0);
		const char *code = json_string_value(json_object_get(s, "Code"));
		const char *serial = json_string_value(json_object_get(s, "SerialNo"));
		if (code && !strcmp(code, "Ok") && given(serial)) {
			o->result = CH_SENT;
			snprintf(o->code, sizeof o->code, "Ok");
			snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%s", serial);
		} else {
			classify(o, code ? code : "", json_string_value(json_object_get(s, "Message")));
		}
	}
	json_decref(j);
out:
	srv_buf_free(&ans);
	return o->result;
}

int sms_tencent_pull(CURL *h, struct sms_report *r, int max)
{
	if (!tencent_configured())
		return -1;
	char body[256];
	snprintf(body, sizeof body, "{\"Limit\":%d,\"SmsSdkAppId\":\"%s\"}", max, tcfg.sdk_app_id);
	struct srv_buf ans = {0};
	long st = tencent_call(h, "PullSmsSendStatus", body, &ans, NULL);
	json_t *j = st == 200 ? json_loadb(ans.p ? ans.p : "", ans.len, 0, NULL) : NULL;
	srv_buf_free(&ans);
	json_t *resp = json_object_get(j, "Response");
	json_t *set = json_object_get(resp, "PullSmsSendStatusSet");
	if (!json_is_array(set) || json_object_get(resp, "Error")) {
		const char *code = json_string_value(json_object_get(json_object_get(resp, "Error"), "Code"));
		if (st)
			srv_log(LOG_WARN, "tencent: PullSmsSendStatus: HTTP %ld %s", st, code ? code : "");
		json_decref(j);
		return -1;
	}
	int n = 0;
	size_t i;
	json_t *d;
	json_array_foreach(set, i, d) {
		if (n >= max)
			break;
		const char *serial = json_string_value(json_object_get(d, "SerialNo"));
		const char *status = json_string_value(json_object_get(d, "ReportStatus"));
		if (!serial || !status)
			continue;
		struct sms_report *x = &r[n++];
		memset(x, 0, sizeof *x);
		snprintf(x->msg_id, sizeof x->msg_id, "%s", serial);
		const char *ph = json_string_value(json_object_get(d, "PhoneNumber"));
		snprintf(x->phone, sizeof x->phone, "%s", ph ? ph : "");
		x->delivered = !strcmp(status, "SUCCESS");
		const char *desc = json_string_value(json_object_get(d, "Description"));
		snprintf(x->code, sizeof x->code, "%s", x->delivered ? "SUCCESS" : desc && *desc ? desc : "FAIL");
		json_t *t = json_object_get(d, "UserReceiveTime");
		x->at_s = json_is_integer(t) ? (int64_t)json_integer_value(t) : 0;
	}
	json_decref(j);
	return n;
}

const struct chan_carrier chan_tencent = {"tencent", tencent_send, tencent_configured};
