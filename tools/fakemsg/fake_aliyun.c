/* fake_aliyun.c: Aliyun Dysmsapi as the fake plays it: POST / with the action in
 * x-acs-action (SendSms, QuerySendDetails), the parameters in the query string, signed with
 * V3. A request that fails a check of the signature is refused with HTTP 400 (404 for an
 * unknown AccessKeyId) and {"Code":...,"Message":...,"RequestId":...}, as Aliyun's gateway
 * answers; a message it will not send is HTTP 200 with its Code (isv.*). */
#include "fake_sms.h"
#include "core/buf.h"
#include "core/smssig.h"

#include <jansson.h>
#include <microhttpd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKEW_S 900 /* x-acs-date must be within 15 minutes of now */

static void answer(struct fakesms *f, struct peer_reply *out, unsigned status, const char *code, const char *msg)
{
	char rid[64];
	snprintf(rid, sizeof rid, "FAKE-%08X", ++f->seq);
	json_t *j = json_pack("{s:s, s:s, s:s}", "Code", code, "Message", msg, "RequestId", rid);
	out->status = status;
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

struct args {
	struct sms_kv kv[32];
	char *own[64];
	size_t n, nown;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct args *a = cls;
	if (a->n < 32 && a->nown + 2 <= 64) {
		a->own[a->nown] = strdup(key);
		a->own[a->nown + 1] = strdup(value ? value : "");
		a->kv[a->n].k = a->own[a->nown];
		a->kv[a->n].v = a->own[a->nown + 1];
		a->n++;
		a->nown += 2;
	}
	return MHD_YES;
}

static const char *arg(const struct args *a, const char *k)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->kv[i].k, k))
			return a->kv[i].v;
	return NULL;
}

/* "2023-10-26T10:22:32Z" as unix seconds; -1 when not that shape. */
static int64_t iso_utc(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? (int64_t)timegm(&tm) : -1;
}

static bool phone_ok(const char *p)
{
	regex_t re;
	regcomp(&re, "^(\\+|00)?[0-9]{6,15}$", REG_EXTENDED | REG_NOSUB);
	bool ok = p && regexec(&re, p, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* The signature checks, under f->mu: 0 when the request is genuine, else the answer is set. */
static int check_signature(struct fakesms *f, const struct peer_request *r, struct args *a, struct peer_reply *out)
{
	const char *auth = peer_header(r, "Authorization");
	char cred[128] = "", signed_h[512] = "", sig[128] = "";
	if (!auth || strncmp(auth, "ACS3-HMAC-SHA256 ", 17) ||
	    sscanf(auth + 17, "Credential=%127[^,],SignedHeaders=%511[^,],Signature=%127s", cred, signed_h, sig) != 3) {
		fake_sms_refuse(f, "Authorization is not ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..");
		answer(f, out, 400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.");
		return -1;
	}
	if (strcmp(cred, f->key_id)) {
		fake_sms_refuse(f, "unknown AccessKeyId %s", cred);
		answer(f, out, 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
		return -1;
	}
	/* Every x-acs-* header sent, host and the content hash must be signed; the names sorted. */
	static const char *const must[] = {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
					    "x-acs-signature-nonce", "x-acs-version", NULL};
	for (int i = 0; must[i]; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, ";%s;", must[i]);
		char hay[520];
		snprintf(hay, sizeof hay, ";%s;", signed_h);
		if (!strstr(hay, needle) || !peer_header(r, must[i])) {
			fake_sms_refuse(f, "header %s missing or not signed (SignedHeaders=%s)", must[i], signed_h);
			answer(f, out, 400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.");
			return -1;
		}
	}
	struct sms_kv hd[16];
	char names[16][64];
	size_t nh = 0;
	char copy[512];
	snprintf(copy, sizeof copy, "%s", signed_h);
	char *save = NULL, prev[64] = "";
	for (char *t = strtok_r(copy, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		const char *v = peer_header(r, t);
		if (nh == 16 || !v || strcmp(prev, t) >= 0) {
			fake_sms_refuse(f, "SignedHeaders %s: %s absent, unsorted or too many", signed_h, t);
			answer(f, out, 400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.");
			return -1;
		}
		snprintf(prev, sizeof prev, "%s", t);
		snprintf(names[nh], sizeof names[nh], "%s", t);
		while (*v == ' ')
			v++;
		hd[nh].k = names[nh];
		hd[nh].v = v;
		nh++;
	}
	char body_hash[65];
	sms_sha256_hex(r->body, r->body_len, body_hash);
	if (strcmp(body_hash, peer_header(r, "x-acs-content-sha256"))) {
		fake_sms_refuse(f, "x-acs-content-sha256 is not the body's");
		answer(f, out, 400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
		return -1;
	}
	int64_t at = iso_utc(peer_header(r, "x-acs-date")), now = (int64_t)time(NULL);
	if (at < 0 || at < now - SKEW_S || at > now + SKEW_S) {
		fake_sms_refuse(f, "x-acs-date %s is not within 15 minutes of now", peer_header(r, "x-acs-date"));
		answer(f, out, 400, at < 0 ? "InvalidTimeStamp.Format" : "InvalidTimeStamp.Expired",
		       "Specified time stamp or date value is expired.");
		return -1;
	}
	/* The canonical request from what arrived: the query arguments decoded and re-encoded. */
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect, a);
	struct srv_buf q = {0};
	struct sms_kv sorted[32];
	memcpy(sorted, a->kv, a->n * sizeof a->kv[0]);
	sms_acs3_query(&q, sorted, a->n);
	char want_signed[512], want[65];
	sms_acs3_sign(f->secret, r->method, r->path, q.p ? q.p : "", hd, nh, body_hash, want_signed, sizeof want_signed,
		      want, NULL);
	srv_buf_free(&q);
	if (!sms_sig_equal(sig, want, 64)) {
		fake_sms_refuse(f, "signature %s is not %s", sig, want);
		answer(f, out, 400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
		return -1;
	}
	const char *nonce = peer_header(r, "x-acs-signature-nonce");
	for (unsigned i = 0; i < 64 && i < f->nnonce; i++)
		if (!strcmp(f->nonces[i], nonce)) {
			fake_sms_refuse(f, "nonce %s used before", nonce);
			answer(f, out, 400, "SignatureNonceUsed", "Specified signature nonce was used already.");
			return -1;
		}
	snprintf(f->nonces[f->nnonce++ % 64], sizeof f->nonces[0], "%s", nonce);
	if (strcmp(peer_header(r, "x-acs-version"), "2017-05-25")) {
		fake_sms_refuse(f, "x-acs-version %s", peer_header(r, "x-acs-version"));
		answer(f, out, 400, "InvalidVersion", "Specified parameter Version is not valid.");
		return -1;
	}
	return 0;
}

static void send_sms(struct fakesms *f, const struct args *a, struct peer_reply *out)
{
	const char *phone = arg(a, "PhoneNumbers"), *sign = arg(a, "SignName"), *code = arg(a, "TemplateCode");
	const char *params = arg(a, "TemplateParam");
	if (!phone || !sign || !code) {
		answer(f, out, 400, !phone ? "MissingPhoneNumbers" : !sign ? "MissingSignName" : "MissingTemplateCode",
		       "A required parameter is missing.");
		return;
	}
	char fail[80];
	if (strcmp(sign, f->sign_name)) {
		answer(f, out, 200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名");
		return;
	}
	struct fake_sms_tpl *t = fake_sms_tpl_find(f, code);
	if (!t) {
		answer(f, out, 200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板");
		return;
	}
	json_t *p = params ? json_loads(params, JSON_REJECT_DUPLICATES, NULL) : NULL;
	bool match = t->nparams == 0 ? (!params || (json_is_object(p) && json_object_size(p) == 0))
				     : json_is_object(p) && json_object_size(p) == (size_t)t->nparams;
	for (int i = 0; match && i < t->nparams; i++)
		match = json_is_string(json_object_get(p, t->names[i]));
	json_decref(p);
	if (!match) {
		answer(f, out, 200, params && !p ? "isv.INVALID_JSON_PARAM" : "isv.TEMPLATE_MISSING_PARAMETERS",
		       "模板变量与模板不符");
		return;
	}
	if (!phone_ok(phone) || strchr(phone, ',')) {
		answer(f, out, 200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号");
		return;
	}
	if (fake_sms_take_fail(f, fail)) {
		answer(f, out, 200, fail, !strcmp(fail, "isv.BUSINESS_LIMIT_CONTROL") ? "触发分钟级流控Permits:1" : "refused");
		return;
	}
	struct fake_sms_msg *m = fake_sms_msg_add(f);
	snprintf(m->phone, sizeof m->phone, "%s", phone);
	snprintf(m->tpl, sizeof m->tpl, "%s", code);
	snprintf(m->params, sizeof m->params, "%s", params ? params : "");
	snprintf(m->out_id, sizeof m->out_id, "%s", arg(a, "OutId") ? arg(a, "OutId") : "");
	snprintf(m->msg_id, sizeof m->msg_id, "%u%06u^0", 900619746u, ++f->seq);
	m->sent_s = (int64_t)time(NULL);
	m->state = FS_SENT;
	f->sends++;
	char rid[64];
	snprintf(rid, sizeof rid, "FAKE-%08X", ++f->seq);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "Code", "OK", "Message", "OK", "BizId", m->msg_id, "RequestId", rid);
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

/* China time (UTC+8) "YYYY-MM-DD HH:MM:SS" of unix s into out[20]. */
static void cst(int64_t s, char out[20])
{
	time_t t = (time_t)(s + 8 * 3600);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static void query(struct fakesms *f, const struct args *a, struct peer_reply *out)
{
	const char *phone = arg(a, "PhoneNumber"), *biz = arg(a, "BizId"), *date = arg(a, "SendDate");
	if (!phone || !date || !arg(a, "PageSize") || !arg(a, "CurrentPage")) {
		answer(f, out, 400, "MissingParameter", "PhoneNumber, SendDate, PageSize and CurrentPage are required.");
		return;
	}
	f->queries++;
	json_t *list = json_array();
	for (int i = 0; i < f->nmsgs; i++) {
		struct fake_sms_msg *m = &f->msgs[i];
		char sent[20], day[9];
		cst(m->sent_s, sent);
		snprintf(day, sizeof day, "%.4s%.2s%.2s", sent, sent + 5, sent + 8);
		if (strcmp(m->phone, phone) || strcmp(day, date) || (biz && strcmp(biz, m->msg_id)))
			continue;
		char recv[20] = "";
		if (m->state != FS_SENT)
			cst(m->settled_s, recv);
		json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "PhoneNum", m->phone,
						      "SendStatus", (json_int_t)(m->state == FS_SENT ? 1 : m->state == FS_DELIVERED ? 3 : 2),
						      "ErrCode", m->state == FS_SENT ? "" : m->err_code, "TemplateCode", m->tpl,
						      "Content", m->params, "SendDate", sent, "ReceiveDate", recv, "OutId",
						      m->out_id));
	}
	char rid[64], total[16];
	snprintf(rid, sizeof rid, "FAKE-%08X", ++f->seq);
	snprintf(total, sizeof total, "%zu", json_array_size(list));
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:{s:o}}", "Code", "OK", "Message", "OK", "RequestId", rid,
			      "TotalCount", total, "SmsSendDetailDTOs", "SmsSendDetailDTO", list);
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

void fake_aliyun(struct fakesms *f, const struct peer_request *r, struct peer_reply *out)
{
	struct args a = {0};
	pthread_mutex_lock(&f->mu);
	if (strcmp(r->method, "POST") && strcmp(r->method, "GET")) {
		answer(f, out, 405, "UnsupportedHTTPMethod", "POST or GET");
	} else if (check_signature(f, r, &a, out) == 0) {
		const char *action = peer_header(r, "x-acs-action");
		if (!strcmp(action, "SendSms"))
			send_sms(f, &a, out);
		else if (!strcmp(action, "QuerySendDetails"))
			query(f, &a, out);
		else
			answer(f, out, 404, "InvalidAction.NotFound", "Specified api is not found.");
	}
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < a.nown; i++)
		free(a.own[i]);
}

char *fake_aliyun_report(const struct fake_sms_msg *m)
{
	char sent[20], rep[20];
	cst(m->sent_s, sent);
	cst(m->settled_s, rep);
	json_t *j = json_pack("[{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:s}]", "phone_number", m->phone, "send_time",
			      sent, "report_time", rep, "success", m->state == FS_DELIVERED, "err_code", m->err_code,
			      "err_msg", m->state == FS_DELIVERED ? "用户接收成功" : "失败", "sms_size", "1", "biz_id",
			      m->msg_id, "out_id", m->out_id);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}
