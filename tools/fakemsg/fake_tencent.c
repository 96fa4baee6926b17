/* fake_tencent.c: Tencent Cloud SMS API 3.0 as the fake plays it: POST / with X-TC-Action
 * (SendSms, PullSmsSendStatus), X-TC-Version 2021-01-11, X-TC-Timestamp and X-TC-Region,
 * signed TC3-HMAC-SHA256. Every answer is HTTP 200: a request refused is
 * {"Response":{"Error":{"Code","Message"},"RequestId"}}, a number refused is its entry of
 * SendStatusSet with the code. */
#include "fake_sms.h"
#include "core/smssig.h"

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKEW_S 300 /* Tencent refuses a timestamp more than 5 minutes off (AuthFailure.SignatureExpire) */

static void error(struct fakesms *f, struct peer_reply *out, const char *code, const char *msg)
{
	char rid[64];
	snprintf(rid, sizeof rid, "fake-%08x", ++f->seq);
	json_t *j = json_pack("{s:{s:{s:s, s:s}, s:s}}", "Response", "Error", "Code", code, "Message", msg, "RequestId", rid);
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

static int check_signature(struct fakesms *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *auth = peer_header(r, "Authorization");
	char id[128] = "", date[16] = "", svc[32] = "", signed_h[256] = "", sig[128] = "";
	if (!auth || strncmp(auth, "TC3-HMAC-SHA256 ", 16) ||
	    sscanf(auth + 16, "Credential=%127[^/]/%15[^/]/%31[^/]/tc3_request, SignedHeaders=%255[^,], Signature=%127s", id,
		   date, svc, signed_h, sig) != 5) {
		fake_sms_refuse(f, "Authorization is not TC3-HMAC-SHA256 Credential=../../sms/tc3_request, SignedHeaders=.., Signature=..");
		error(f, out, "AuthFailure.SignatureFailure", "The provided credentials could not be validated.");
		return -1;
	}
	if (strcmp(id, f->key_id)) {
		fake_sms_refuse(f, "unknown SecretId %s", id);
		error(f, out, "AuthFailure.SecretIdNotFound", "The SecretId is not found.");
		return -1;
	}
	const char *tss = peer_header(r, "X-TC-Timestamp"), *ctype = peer_header(r, "Content-Type");
	const char *host = peer_header(r, "Host");
	char *end = NULL;
	long long ts = tss ? strtoll(tss, &end, 10) : -1;
	int64_t now = (int64_t)time(NULL);
	if (!tss || *end || ts < now - SKEW_S || ts > now + SKEW_S) {
		fake_sms_refuse(f, "X-TC-Timestamp %s is not within 5 minutes of now", tss ? tss : "(none)");
		error(f, out, "AuthFailure.SignatureExpire", "Signature expired.");
		return -1;
	}
	/* The fake takes the two headers the carrier signs: content-type;host, as the docs' minimum. */
	if (strcmp(signed_h, "content-type;host") || !ctype || !host || strcmp(svc, "sms")) {
		fake_sms_refuse(f, "SignedHeaders %s / service %s", signed_h, svc);
		error(f, out, "AuthFailure.SignatureFailure", "The provided credentials could not be validated.");
		return -1;
	}
	char want_date[11], want[65];
	sms_tc3_sign(f->secret, "sms", host, ctype, (int64_t)ts, r->body, r->body_len, want_date, want);
	if (strcmp(date, want_date) || !sms_sig_equal(sig, want, 64)) {
		fake_sms_refuse(f, "signature %s (date %s) is not %s (date %s)", sig, date, want, want_date);
		error(f, out, "AuthFailure.SignatureFailure", "The provided credentials could not be validated.");
		return -1;
	}
	const char *ver = peer_header(r, "X-TC-Version");
	if (!ver || strcmp(ver, "2021-01-11")) {
		fake_sms_refuse(f, "X-TC-Version %s", ver ? ver : "(none)");
		error(f, out, "InvalidParameterValue", "X-TC-Version must be 2021-01-11.");
		return -1;
	}
	if (!peer_header(r, "X-TC-Region")) {
		error(f, out, "MissingParameter", "The request is missing a required parameter `Region`.");
		return -1;
	}
	return 0;
}

static bool phone_ok(const char *p)
{
	regex_t re;
	regcomp(&re, "^\\+[0-9]{6,15}$", REG_EXTENDED | REG_NOSUB);
	bool ok = p && regexec(&re, p, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* A per-number code (SendStatusSet) rather than the request's (Response.Error). */
static bool per_number(const char *code)
{
	return !strncmp(code, "LimitExceeded.Phone", 19) || !strncmp(code, "FailedOperation.Phone", 21) ||
	       !strcmp(code, "InvalidParameterValue.IncorrectPhoneNumber") ||
	       !strcmp(code, "FailedOperation.InsufficientBalanceInSmsPackage");
}

static void send_sms(struct fakesms *f, json_t *b, struct peer_reply *out)
{
	json_t *phones = json_object_get(b, "PhoneNumberSet"), *params = json_object_get(b, "TemplateParamSet");
	const char *app = json_string_value(json_object_get(b, "SmsSdkAppId"));
	const char *sign = json_string_value(json_object_get(b, "SignName"));
	const char *tid = json_string_value(json_object_get(b, "TemplateId"));
	const char *ctx = json_string_value(json_object_get(b, "SessionContext"));
	if (!json_is_array(phones) || !json_array_size(phones) || !app || !tid) {
		error(f, out, "MissingParameter", "PhoneNumberSet, SmsSdkAppId and TemplateId are required.");
		return;
	}
	if (strcmp(app, f->app_id)) {
		error(f, out, "InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist.");
		return;
	}
	if (!sign || strcmp(sign, f->sign_name)) {
		error(f, out, "FailedOperation.SignatureIncorrectOrUnapproved", "Signature is incorrect or unapproved.");
		return;
	}
	struct fake_sms_tpl *t = fake_sms_tpl_find(f, tid);
	if (!t) {
		error(f, out, "FailedOperation.TemplateIncorrectOrUnapproved", "Template is incorrect or unapproved.");
		return;
	}
	size_t np = json_is_array(params) ? json_array_size(params) : 0;
	bool all_str = true;
	size_t i;
	json_t *v;
	json_array_foreach(params, i, v) all_str = all_str && json_is_string(v);
	if (np != (size_t)t->nparams || !all_str || (params && !json_is_array(params))) {
		error(f, out, "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
		      "The number of template parameters does not match the approved template.");
		return;
	}
	char fail[80];
	const char *code = fake_sms_take_fail(f, fail);
	if (code && !per_number(code)) {
		error(f, out, code, "refused by the test");
		return;
	}
	char *pjson = json_dumps(params ? params : json_array(), JSON_COMPACT);
	json_t *set = json_array();
	json_t *ph;
	json_array_foreach(phones, i, ph) {
		const char *p = json_string_value(ph);
		const char *c = code ? code : !phone_ok(p) ? "InvalidParameterValue.IncorrectPhoneNumber" : "Ok";
		char serial[64] = "";
		if (!strcmp(c, "Ok")) {
			struct fake_sms_msg *m = fake_sms_msg_add(f);
			snprintf(m->phone, sizeof m->phone, "%s", p);
			snprintf(m->tpl, sizeof m->tpl, "%s", tid);
			snprintf(m->params, sizeof m->params, "%s", pjson);
			snprintf(m->out_id, sizeof m->out_id, "%s", ctx ? ctx : "");
			snprintf(m->msg_id, sizeof m->msg_id, "2028:%u%010u", 3, ++f->seq);
			m->sent_s = (int64_t)time(NULL);
			snprintf(serial, sizeof serial, "%s", m->msg_id);
			f->sends++;
		}
		json_array_append_new(set, json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "SerialNo", serial, "PhoneNumber",
						     p ? p : "", "Fee", (json_int_t)(serial[0] ? 1 : 0), "SessionContext",
						     ctx ? ctx : "", "Code", c, "Message", !strcmp(c, "Ok") ? "send success" : c,
						     "IsoCode", "CN"));
	}
	free(pjson);
	char rid[64];
	snprintf(rid, sizeof rid, "fake-%08x", ++f->seq);
	json_t *j = json_pack("{s:{s:o, s:s}}", "Response", "SendStatusSet", set, "RequestId", rid);
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

static void pull(struct fakesms *f, json_t *b, struct peer_reply *out)
{
	json_t *lim = json_object_get(b, "Limit");
	const char *app = json_string_value(json_object_get(b, "SmsSdkAppId"));
	if (!json_is_integer(lim) || !app) {
		error(f, out, "MissingParameter", "Limit and SmsSdkAppId are required.");
		return;
	}
	if (strcmp(app, f->app_id)) {
		error(f, out, "InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist.");
		return;
	}
	f->queries++;
	json_int_t max = json_integer_value(lim);
	json_t *set = json_array();
	for (int i = 0; i < f->nmsgs && (json_int_t)json_array_size(set) < max; i++) {
		struct fake_sms_msg *m = &f->msgs[i];
		if (m->state == FS_SENT || m->pulled)
			continue;
		m->pulled = true;
		bool cn = !strncmp(m->phone, "+86", 3);
		json_array_append_new(set, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "UserReceiveTime",
						     (json_int_t)m->settled_s, "CountryCode", cn ? "86" : "",
						     "SubscriberNumber", cn ? m->phone + 3 : m->phone, "PhoneNumber", m->phone,
						     "SerialNo", m->msg_id, "ReportStatus",
						     m->state == FS_DELIVERED ? "SUCCESS" : "FAIL", "Description", m->err_code,
						     "SessionContext", m->out_id));
	}
	char rid[64];
	snprintf(rid, sizeof rid, "fake-%08x", ++f->seq);
	json_t *j = json_pack("{s:{s:o, s:s}}", "Response", "PullSmsSendStatusSet", set, "RequestId", rid);
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

void fake_tencent(struct fakesms *f, const struct peer_request *r, struct peer_reply *out)
{
	pthread_mutex_lock(&f->mu);
	if (strcmp(r->method, "POST") || strcmp(r->path, "/")) {
		error(f, out, "InvalidAction", "POST / only.");
	} else if (check_signature(f, r, out) == 0) {
		const char *action = peer_header(r, "X-TC-Action");
		json_t *b = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(b))
			error(f, out, "InvalidParameter", "The body is not a JSON object.");
		else if (action && !strcmp(action, "SendSms"))
			send_sms(f, b, out);
		else if (action && !strcmp(action, "PullSmsSendStatus"))
			pull(f, b, out);
		else
			error(f, out, "InvalidAction", "The action does not exist.");
		json_decref(b);
	}
	pthread_mutex_unlock(&f->mu);
}

char *fake_tencent_report(const struct fake_sms_msg *m)
{
	char when[20];
	time_t t = (time_t)(m->settled_s + 8 * 3600);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	bool cn = !strncmp(m->phone, "+86", 3);
	json_t *j = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s, s:s}]", "user_receive_time", when, "nationcode",
			      cn ? "86" : "", "mobile", cn ? m->phone + 3 : m->phone, "report_status",
			      m->state == FS_DELIVERED ? "SUCCESS" : "FAIL", "errmsg", m->err_code, "description",
			      m->state == FS_DELIVERED ? "用户短信送达成功" : "用户短信未送达", "sid", m->msg_id);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}
