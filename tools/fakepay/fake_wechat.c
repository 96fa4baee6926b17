/* fake_wechat.c: the WeChat Pay API v3 fake's paths (fakepay.h): Native and JSAPI orders,
 * the order query and close by out_trade_no, domestic refunds and their query, the trade
 * bill and its download.
 *
 * It checks what WeChat checks: User-Agent and Accept present; Authorization
 * WECHATPAY2-SHA256-RSA2048 with all of mchid, nonce_str, signature, timestamp and
 * serial_no, the mchid and serial the merchant's, the timestamp within 5 minutes, the
 * signature RSA-SHA256 with the merchant public key over "METHOD\nURL\ntimestamp\nnonce\n
 * body\n" (URL: the path and query as received); JSON bodies as application/json; the
 * appid and mchid the merchant's; each field present and of its type; ids of WeChat's
 * characters; time_expire in the future; amounts positive. It refuses as WeChat does:
 * 401 SIGN_ERROR, 400 PARAM_ERROR, 404 ORDER_NOT_EXIST / RESOURCE_NOT_EXISTS, 400
 * ORDERPAID, 403 NOT_ENOUGH, 400 NO_STATEMENT_EXIST. Every answer but the bill file is
 * signed with the platform key in Wechatpay-Serial/-Timestamp/-Nonce/-Signature.
 *
 * The query string WeChat signs is the one sent; libmicrohttpd gives the fake only the
 * decoded arguments, so it writes them back in order, escaping all but [A-Za-z0-9-_.~]:
 * a client that escapes otherwise is refused (stricter than WeChat, never looser).
 *
 * Bill days are China days (+08:00), as WeChat's are. Only bill_type ALL, without
 * tar_type, is served. */
#include "fakepay.h"
#include "core/money.h"
#include "core/paysig.h"

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define CHINA_S (8 * 3600)

/* ---- answers ---- */

static EVP_PKEY *wrong_key;
static pthread_once_t wrong_once = PTHREAD_ONCE_INIT;
static void make_wrong_key(void)
{
	if (!(wrong_key = EVP_RSA_gen(2048)))
		abort();
}

static void hex_random(char *out, size_t bytes)
{
	unsigned char raw[32];
	if (bytes > sizeof raw || getrandom(raw, bytes, 0) != (ssize_t)bytes)
		abort();
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02X", raw[i]);
}

/* Sign out's body as WeChat does (with the wrong key when f->bad_answer_sig). */
static void sign_answer(struct fakepay *f, struct peer_reply *out)
{
	const char *body = out->body ? out->body : "{}";
	size_t bl = out->body ? (out->body_len ? out->body_len : strlen(out->body)) : 2;
	char ts[24], nonce[33], rid[33];
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	hex_random(nonce, 16);
	hex_random(rid, 16);
	size_t ml = strlen(ts) + strlen(nonce) + bl + 3;
	char *m = malloc(ml + 1);
	if (!m)
		abort();
	snprintf(m, ml + 1, "%s\n%s\n", ts, nonce);
	memcpy(m + strlen(ts) + strlen(nonce) + 2, body, bl);
	m[ml - 1] = '\n';
	EVP_PKEY *k = f->sign_key;
	if (f->bad_answer_sig) {
		pthread_once(&wrong_once, make_wrong_key);
		k = wrong_key;
	}
	char *sig = bill_rsa_sha256_sign(k, m, ml);
	free(m);
	if (!sig)
		abort();
	size_t hl = strlen(sig) + 512;
	if (!(out->headers = malloc(hl)))
		abort();
	snprintf(out->headers, hl,
		 "Wechatpay-Serial: %s\nWechatpay-Timestamp: %s\nWechatpay-Nonce: %s\nWechatpay-Signature: %s\n"
		 "Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048\nRequest-ID: %s\n",
		 f->platform_serial, ts, nonce, sig, rid);
	free(sig);
}

static void reply_json(struct fakepay *f, struct peer_reply *out, unsigned status, json_t *j)
{
	out->status = status;
	out->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!out->body)
		abort();
	out->content_type = "application/json";
	sign_answer(f, out);
}

/* WeChat's error answer: {"code","message"}, signed. Not a failed check (see refuse). */
static void error_reply(struct fakepay *f, struct peer_reply *out, unsigned status, const char *code, const char *msg)
{
	reply_json(f, out, status, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

/* A request that fails a check: counted and remembered (fake_refuse), and answered. */
static void refuse(struct fakepay *f, struct peer_reply *out, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void refuse(struct fakepay *f, struct peer_reply *out, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fake_refuse(f, "%u %s: %s", status, code, msg);
	error_reply(f, out, status, code, msg);
}

/* ---- the request's checks ---- */

static bool id_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      c == '-' || c == '*'))
			return false;
	}
	return true;
}

/* Characters of UTF-8 s (WeChat's lengths are in characters). */
static size_t chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

struct qs {
	char buf[2048];
	size_t n;
};

static void qs_put(struct qs *q, const char *s)
{
	for (; *s && q->n + 4 < sizeof q->buf; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			q->buf[q->n++] = (char)c;
		else
			q->n += (size_t)snprintf(q->buf + q->n, 4, "%%%02X", c);
	}
	q->buf[q->n] = 0;
}

static enum MHD_Result qs_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct qs *q = cls;
	if (q->n && q->n + 1 < sizeof q->buf)
		q->buf[q->n++] = '&';
	qs_put(q, key);
	if (value && q->n + 1 < sizeof q->buf) {
		q->buf[q->n++] = '=';
		qs_put(q, value);
	}
	return MHD_YES;
}

/* The value of key="..." in an Authorization header's parameters, into out; false when absent. */
static bool auth_param(const char *p, const char *key, char *out, size_t n)
{
	size_t kl = strlen(key);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq || eq[1] != '"')
			return false;
		const char *end = strchr(eq + 2, '"');
		if (!end)
			return false;
		if ((size_t)(eq - p) == kl && !strncmp(p, key, kl)) {
			size_t vl = (size_t)(end - eq - 2);
			if (vl >= n)
				return false;
			memcpy(out, eq + 2, vl);
			out[vl] = 0;
			return true;
		}
		p = end + 1;
	}
	return false;
}

/* The checks of every request; false when refused (out set). */
static bool checked(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *ua = peer_header(r, "User-Agent");
	if (!ua || !*ua) {
		refuse(f, out, 400, "PARAM_ERROR", "Http头缺少User-Agent");
		return false;
	}
	const char *acc = peer_header(r, "Accept");
	if (!acc || (!strstr(acc, "application/json") && !strstr(acc, "*/*"))) {
		refuse(f, out, 400, "PARAM_ERROR", "Http头Accept缺少或不是application/json");
		return false;
	}
	const char *auth = peer_header(r, "Authorization");
	static const char scheme[] = "WECHATPAY2-SHA256-RSA2048 ";
	if (!auth || strncmp(auth, scheme, sizeof scheme - 1)) {
		refuse(f, out, 401, "SIGN_ERROR", "Http头缺少Authorization或认证类型不是WECHATPAY2-SHA256-RSA2048");
		return false;
	}
	const char *params = auth + sizeof scheme - 1;
	char mchid[64], nonce[64], sig[1024], ts[32], serial[128];
	if (!auth_param(params, "mchid", mchid, sizeof mchid) || !auth_param(params, "nonce_str", nonce, sizeof nonce) ||
	    !auth_param(params, "signature", sig, sizeof sig) || !auth_param(params, "timestamp", ts, sizeof ts) ||
	    !auth_param(params, "serial_no", serial, sizeof serial) || !*nonce || !*sig) {
		refuse(f, out, 401, "SIGN_ERROR", "Authorization缺少mchid/nonce_str/signature/timestamp/serial_no");
		return false;
	}
	if (strcmp(mchid, f->mchid)) {
		refuse(f, out, 401, "SIGN_ERROR", "Authorization的mchid %s不是本商户", mchid);
		return false;
	}
	if (strcmp(serial, f->merchant_serial)) {
		refuse(f, out, 401, "SIGN_ERROR", "商户证书序列号%s有误", serial);
		return false;
	}
	char *e;
	long long t = strtoll(ts, &e, 10);
	long long now = (long long)time(NULL);
	if (!*ts || *e || t < now - 300 || t > now + 300) {
		refuse(f, out, 401, "SIGN_ERROR", "timestamp %s与当前时间相差超过5分钟", ts);
		return false;
	}
	struct qs q = {.n = 0};
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, qs_arg, &q);
	size_t ml = strlen(r->method) + strlen(r->path) + 1 + q.n + strlen(ts) + strlen(nonce) + r->body_len + 6;
	char *m = malloc(ml);
	if (!m)
		abort();
	int hl = snprintf(m, ml, "%s\n%s%s%s\n%s\n%s\n", r->method, r->path, q.n ? "?" : "", q.buf, ts, nonce);
	memcpy(m + hl, r->body, r->body_len);
	m[(size_t)hl + r->body_len] = '\n';
	bool ok = bill_rsa_sha256_verify(f->client_pub, m, (size_t)hl + r->body_len + 1, sig);
	free(m);
	if (!ok) {
		refuse(f, out, 401, "SIGN_ERROR", "签名错误: %s %s%s%s", r->method, r->path, q.n ? "?" : "", q.buf);
		return false;
	}
	if (!strcmp(r->method, "POST")) {
		const char *ct = peer_header(r, "Content-Type");
		if (!ct || strncasecmp(ct, "application/json", 16)) {
			refuse(f, out, 400, "PARAM_ERROR", "Content-Type须为application/json");
			return false;
		}
	}
	return true;
}

/* The POST body as a JSON object, or NULL (refused). */
static json_t *body_json(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	json_error_t err;
	json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j)) {
		json_decref(j);
		refuse(f, out, 400, "PARAM_ERROR", "请求体不是JSON对象");
		return NULL;
	}
	return j;
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* RFC 3339 ("2026-12-01T18:00:00+08:00", or Z) to unix seconds; -1 when malformed. */
static int64_t rfc3339(const char *s)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, n = 0;
	char sign;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || mo < 1 || mo > 12 ||
	    d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
		return -1;
	const char *z = s + n;
	if (!strcmp(z, "Z"))
		sign = '+';
	else if (sscanf(z, "%c%2d:%2d", &sign, &oh, &om) != 3 || (sign != '+' && sign != '-') || strlen(z) != 6)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
	int64_t off = (int64_t)(oh * 3600 + om * 60);
	return (int64_t)timegm(&tm) - (sign == '+' ? off : -off);
}

static void china(int64_t s, const char *fmt, char out[32])
{
	time_t t = (time_t)(s + CHINA_S);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, fmt, &tm);
}

static void rfc(int64_t s, char out[32]) { china(s, "%Y-%m-%dT%H:%M:%S+08:00", out); }

static bool url_ok(const char *u)
{
	return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7)) && strlen(u) <= 255 && !strchr(u, '?');
}

/* ---- orders ---- */

static void code_url(const struct fakepay *f, const struct fake_trade *t, char out[80])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char in[128];
	snprintf(in, sizeof in, "%s/%s/%lld", f->mchid, t->out_trade_no, (long long)t->created_s);
	EVP_Digest(in, strlen(in), md, &n, EVP_sha1(), NULL);
	snprintf(out, 80, "weixin://wxpay/bizpayurl?pr=%02x%02x%02x%02x%02x", md[0], md[1], md[2], md[3], md[4]);
}

static void create(struct fakepay *f, const struct peer_request *r, struct peer_reply *out, bool jsapi)
{
	json_t *b = body_json(f, r, out);
	if (!b)
		return;
	const char *appid = str(b, "appid"), *mchid = str(b, "mchid"), *desc = str(b, "description");
	const char *no = str(b, "out_trade_no"), *expire = str(b, "time_expire"), *notify = str(b, "notify_url");
	json_t *amount = json_object_get(b, "amount"), *total = json_object_get(amount, "total");
	const char *cur = str(amount, "currency");
	const char *openid = str(json_object_get(b, "payer"), "openid");
	int64_t now = (int64_t)time(NULL), exp = expire ? rfc3339(expire) : now + 7200;
	if (!appid || !mchid || !desc || !no || !notify || !json_is_object(amount))
		refuse(f, out, 400, "PARAM_ERROR", "缺少参数appid/mchid/description/out_trade_no/notify_url/amount");
	else if (strcmp(appid, f->appid))
		refuse(f, out, 400, "APPID_MCHID_NOT_MATCH", "appid %s和mchid不匹配", appid);
	else if (strcmp(mchid, f->mchid))
		refuse(f, out, 400, "PARAM_ERROR", "mchid %s与请求方不一致", mchid);
	else if (!*desc || chars(desc) > 127)
		refuse(f, out, 400, "PARAM_ERROR", "description长度须为1..127");
	else if (!id_ok(no, 6, 32))
		refuse(f, out, 400, "PARAM_ERROR", "out_trade_no须为6..32位数字、字母、_-*");
	else if (expire && exp < 0)
		refuse(f, out, 400, "PARAM_ERROR", "time_expire %s不是rfc3339格式", expire);
	else if (exp <= now)
		refuse(f, out, 400, "PARAM_ERROR", "time_expire已过期");
	else if (!url_ok(notify))
		refuse(f, out, 400, "PARAM_ERROR", "notify_url须为http(s)地址且不能携带参数");
	else if (!json_is_integer(total) || json_integer_value(total) <= 0 || json_integer_value(total) > INT32_MAX)
		refuse(f, out, 400, "PARAM_ERROR", "amount.total须为正整数(分)");
	else if (json_object_get(amount, "currency") && (!cur || strcmp(cur, "CNY")))
		refuse(f, out, 400, "PARAM_ERROR", "amount.currency须为CNY");
	else if (jsapi && (!openid || !*openid || strlen(openid) > 128))
		refuse(f, out, 400, "PARAM_ERROR", "JSAPI下单须有payer.openid");
	else {
		f->calls[FC_CREATE]++;
		struct fake_trade *t = fake_trade_find(f, no, NULL);
		if (*f->refuse_create)
			error_reply(f, out, 400, f->refuse_create, "下单被拒绝");
		else if (t && t->state == FT_PAID)
			error_reply(f, out, 400, "ORDERPAID", "该订单已支付");
		else if (t && t->state == FT_CLOSED)
			error_reply(f, out, 400, "ORDER_CLOSED", "该订单已关闭");
		else if (t && (t->amount != json_integer_value(total) || strcmp(t->mode, jsapi ? "jsapi" : "native") ||
			       strcmp(t->description, desc) || (jsapi && strcmp(t->openid, openid))))
			error_reply(f, out, 400, "INVALID_REQUEST", "201 商户订单号重复");
		else {
			if (!t) { /* else the same order again: the same answer */
				t = fake_trade_add(f);
				snprintf(t->out_trade_no, sizeof t->out_trade_no, "%s", no);
				snprintf(t->currency, sizeof t->currency, "CNY");
				snprintf(t->notify_url, sizeof t->notify_url, "%s", notify);
				snprintf(t->description, sizeof t->description, "%s", desc);
				snprintf(t->openid, sizeof t->openid, "%s", jsapi ? openid : "");
				snprintf(t->mode, sizeof t->mode, "%s", jsapi ? "jsapi" : "native");
				t->amount = json_integer_value(total);
				t->created_s = now;
				t->expires_s = exp;
				t->state = FT_OPEN;
				if (jsapi)
					fake_id(f, "wx", t->ref);
			}
			char cu[80];
			code_url(f, t, cu);
			reply_json(f, out, 200,
				   jsapi ? json_pack("{s:s}", "prepay_id", t->ref) : json_pack("{s:s}", "code_url", cu));
		}
	}
	json_decref(b);
}

static void query(struct fakepay *f, const struct peer_request *r, struct peer_reply *out, const char *no)
{
	const char *mchid = peer_query(r, "mchid");
	if (!mchid || strcmp(mchid, f->mchid)) {
		refuse(f, out, 400, "PARAM_ERROR", "mchid须为本商户号");
		return;
	}
	f->calls[FC_QUERY]++;
	struct fake_trade *t = fake_trade_find(f, no, NULL);
	if (!t) {
		error_reply(f, out, 404, "ORDER_NOT_EXIST", "订单不存在");
		return;
	}
	int64_t now = (int64_t)time(NULL);
	const char *state = t->state == FT_PAID ? (t->refunded > 0 ? "REFUND" : "SUCCESS")
			    : t->state == FT_CLOSED || now >= t->expires_s ? "CLOSED"
									    : "NOTPAY";
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "appid", f->appid, "mchid", f->mchid, "out_trade_no",
			      t->out_trade_no, "trade_type", !strcmp(t->mode, "jsapi") ? "JSAPI" : "NATIVE",
			      "trade_state", state, "trade_state_desc", state, "attach", "");
	if (t->state == FT_PAID) {
		char when[32];
		rfc(t->paid_s, when);
		json_object_set_new(j, "transaction_id", json_string(t->txn));
		json_object_set_new(j, "bank_type", json_string("OTHERS"));
		json_object_set_new(j, "success_time", json_string(when));
		json_object_set_new(j, "payer", json_pack("{s:s}", "openid", *t->openid ? t->openid : "oFakePayer"));
		json_object_set_new(j, "amount", json_pack("{s:I, s:I, s:s, s:s}", "total", (json_int_t)t->amount,
							   "payer_total", (json_int_t)t->amount, "currency", "CNY",
							   "payer_currency", "CNY"));
	} else {
		json_object_set_new(j, "amount", json_pack("{s:s}", "payer_currency", "CNY"));
	}
	reply_json(f, out, 200, j);
}

static void close_trade(struct fakepay *f, const struct peer_request *r, struct peer_reply *out, const char *no)
{
	json_t *b = body_json(f, r, out);
	if (!b)
		return;
	const char *mchid = str(b, "mchid");
	if (!mchid || strcmp(mchid, f->mchid))
		refuse(f, out, 400, "PARAM_ERROR", "mchid须为本商户号");
	else {
		f->calls[FC_CLOSE]++;
		struct fake_trade *t = fake_trade_find(f, no, NULL);
		if (!t)
			error_reply(f, out, 404, "ORDER_NOT_EXIST", "订单不存在");
		else if (t->state == FT_PAID)
			error_reply(f, out, 400, "ORDERPAID", "订单已支付");
		else {
			t->state = FT_CLOSED;
			out->status = 204;
			if (!(out->body = strdup("")))
				abort();
			sign_answer(f, out); /* over the empty body */
		}
	}
	json_decref(b);
}

/* ---- refunds ---- */

static const char *refund_status(enum fake_refund_state s)
{
	return s == FR_SUCCEEDED ? "SUCCESS" : s == FR_PENDING ? "PROCESSING" : "ABNORMAL";
}

static struct fake_trade *trade_by_txn(struct fakepay *f, const char *txn)
{
	for (size_t i = 0; txn && i < f->ntrades; i++)
		if (*f->trades[i].txn && !strcmp(f->trades[i].txn, txn))
			return &f->trades[i];
	return NULL;
}

static void refund_reply(struct fakepay *f, struct peer_reply *out, const struct fake_refund *rf)
{
	const struct fake_trade *t = trade_by_txn(f, rf->txn);
	char created[32];
	rfc(rf->created_s, created);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}}",
			      "refund_id", rf->refund_id, "out_refund_no", rf->out_refund_no, "transaction_id", rf->txn,
			      "out_trade_no", t ? t->out_trade_no : "", "channel", "ORIGINAL", "user_received_account",
			      "支付用户零钱", "create_time", created, "status", refund_status(rf->state), "funds_account",
			      "AVAILABLE", "amount", "total", (json_int_t)(t ? t->amount : 0), "refund",
			      (json_int_t)rf->amount, "payer_total", (json_int_t)(t ? t->amount : 0), "payer_refund",
			      (json_int_t)rf->amount, "settlement_refund", (json_int_t)rf->amount, "settlement_total",
			      (json_int_t)(t ? t->amount : 0), "discount_refund", (json_int_t)0, "currency", "CNY");
	if (rf->state == FR_SUCCEEDED)
		json_object_set_new(j, "success_time", json_string(created));
	reply_json(f, out, 200, j);
}

static void refund(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	json_t *b = body_json(f, r, out);
	if (!b)
		return;
	const char *no = str(b, "out_refund_no"), *txn = str(b, "transaction_id"), *otn = str(b, "out_trade_no");
	const char *reason = str(b, "reason"), *notify = str(b, "notify_url");
	json_t *amount = json_object_get(b, "amount"), *ra = json_object_get(amount, "refund");
	json_t *ta = json_object_get(amount, "total");
	const char *cur = str(amount, "currency");
	if (!id_ok(no, 1, 64))
		refuse(f, out, 400, "PARAM_ERROR", "out_refund_no须为1..64位数字、字母、_-*");
	else if ((!txn || !*txn) && !id_ok(otn, 6, 32))
		refuse(f, out, 400, "PARAM_ERROR", "transaction_id和out_trade_no须二选一");
	else if (json_object_get(b, "reason") && (!reason || chars(reason) > 80))
		refuse(f, out, 400, "PARAM_ERROR", "reason至多80个字符");
	else if (json_object_get(b, "notify_url") && !url_ok(notify))
		refuse(f, out, 400, "PARAM_ERROR", "notify_url须为http(s)地址且不能携带参数");
	else if (!json_is_integer(ra) || !json_is_integer(ta) || json_integer_value(ra) <= 0 ||
		 json_integer_value(ta) <= 0 || !cur)
		refuse(f, out, 400, "PARAM_ERROR", "amount须有正整数refund、total与currency");
	else if (strcmp(cur, "CNY"))
		refuse(f, out, 400, "PARAM_ERROR", "amount.currency须为CNY");
	else {
		f->calls[FC_REFUND]++;
		struct fake_trade *t = txn && *txn ? trade_by_txn(f, txn) : fake_trade_find(f, otn, NULL);
		struct fake_refund *rf = fake_refund_find(f, no);
		int64_t want = json_integer_value(ra);
		if (!t || t->state != FT_PAID)
			error_reply(f, out, 404, "RESOURCE_NOT_EXISTS", "订单不存在");
		else if (json_integer_value(ta) != t->amount)
			error_reply(f, out, 400, "PARAM_ERROR", "amount.total与订单金额不一致");
		else if (rf && (strcmp(rf->txn, t->txn) || rf->amount != want))
			error_reply(f, out, 400, "INVALID_REQUEST", "out_refund_no已用于另一笔退款");
		else if (rf)
			refund_reply(f, out, rf); /* asked again: the same refund */
		else if (want > t->amount - t->refunded)
			error_reply(f, out, 403, "NOT_ENOUGH", "申请退款金额超过订单可退金额");
		else {
			t->refunded += want;
			char txn_copy[64];
			snprintf(txn_copy, sizeof txn_copy, "%s", t->txn);
			rf = fake_refund_add(f);
			snprintf(rf->out_refund_no, sizeof rf->out_refund_no, "%s", no);
			fake_id(f, "50", rf->refund_id);
			snprintf(rf->txn, sizeof rf->txn, "%s", txn_copy);
			snprintf(rf->reason, sizeof rf->reason, "%s", reason ? reason : "");
			rf->amount = want;
			rf->created_s = (int64_t)time(NULL);
			rf->state = f->refund_pending ? FR_PENDING : FR_SUCCEEDED;
			refund_reply(f, out, rf);
		}
	}
	json_decref(b);
}

static void refund_query(struct fakepay *f, struct peer_reply *out, const char *no)
{
	f->calls[FC_REFUND_QUERY]++;
	struct fake_refund *rf = fake_refund_find(f, no);
	if (!rf)
		error_reply(f, out, 404, "RESOURCE_NOT_EXISTS", "退款单不存在");
	else
		refund_reply(f, out, rf);
}

/* ---- the bill ---- */

/* Issued download tokens and the files they name (tests are short; 16 suffice), shared by
 * every WeChat fake of the process: guarded by issued_mu, not by a fake's mu. */
static pthread_mutex_t issued_mu = PTHREAD_MUTEX_INITIALIZER;
static struct issued {
	const struct fakepay *f;
	char token[40];
	char *csv;
	int64_t expires_s;
} issued[16];
static unsigned issued_next;

struct csv {
	char *p;
	size_t n, cap;
	size_t count;
	int64_t pay, refund, order;
};

static void csv_put(struct csv *c, const char *s)
{
	size_t l = strlen(s);
	if (c->n + l + 1 > c->cap) {
		c->cap = c->cap ? c->cap * 2 + l : 4096 + l;
		if (!(c->p = realloc(c->p, c->cap)))
			abort();
	}
	memcpy(c->p + c->n, s, l + 1);
	c->n += l;
}

/* A detail row: every field after a '`'. */
static void csv_row(struct csv *c, const char *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		csv_put(c, i ? ",`" : "`");
		csv_put(c, fields[i]);
	}
	csv_put(c, "\r\n");
}

static const char *const bill_cols[27] = {
	"交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
	"交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
	"充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额",
	"费率备注"};

/* A row of the details (header: no '`'), reversed when f->wx_bill_reorder. */
static void detail(struct fakepay *f, struct csv *c, const char *const *fields, bool header)
{
	const char *v[27];
	for (size_t i = 0; i < 27; i++)
		v[i] = fields[f->wx_bill_reorder ? 26 - i : i];
	if (!header) {
		csv_row(c, v, 27);
		return;
	}
	for (size_t i = 0; i < 27; i++) {
		csv_put(c, i ? "," : "");
		csv_put(c, v[i]);
	}
	csv_put(c, "\r\n");
}

static void pay_row(struct fakepay *f, struct csv *c, int64_t at, const char *txn, const char *no, const char *openid,
		    const char *type, int64_t amount, const char *desc)
{
	char when[32], yuan[32];
	china(at, "%Y-%m-%d %H:%M:%S", when);
	bill_format_decimal(amount, 2, yuan, sizeof yuan);
	const char *fields[27] = {when, f->appid, f->mchid, "0", "", txn, no, openid, type, "SUCCESS",
				  "OTHERS", "CNY", yuan, "0.00", "0", "0", "0.00", "0.00", "", "",
				  desc, "", "0.00000", "0.60%", yuan, "0.00", ""};
	detail(f, c, fields, false);
	c->count++;
	c->pay += amount;
	c->order += amount;
}

static void refund_row(struct fakepay *f, struct csv *c, const struct fake_refund *rf, const struct fake_trade *t)
{
	char when[32], yuan[32], order[32];
	china(rf->created_s, "%Y-%m-%d %H:%M:%S", when);
	bill_format_decimal(rf->amount, 2, yuan, sizeof yuan);
	bill_format_decimal(t->amount, 2, order, sizeof order);
	const char *fields[27] = {when,
				  f->appid,
				  f->mchid,
				  "0",
				  "",
				  rf->txn,
				  t->out_trade_no,
				  *t->openid ? t->openid : "oFakePayer",
				  !strcmp(t->mode, "jsapi") ? "JSAPI" : "NATIVE",
				  "REFUND",
				  "OTHERS",
				  "CNY",
				  "0.00",
				  "0.00",
				  rf->refund_id,
				  rf->out_refund_no,
				  yuan,
				  "0.00",
				  "ORIGINAL",
				  rf->state == FR_SUCCEEDED ? "SUCCESS" : "PROCESSING",
				  t->description,
				  "",
				  "0.00000",
				  "0.60%",
				  order,
				  yuan,
				  ""};
	detail(f, c, fields, false);
	c->count++;
	c->refund += rf->amount;
}

/* The ALL bill of China day date, or NULL when there is nothing that day. New. */
static char *build_bill(struct fakepay *f, const char *date)
{
	struct csv c = {0};
	detail(f, &c, bill_cols, true);
	char day[32];
	for (size_t i = 0; i < f->ntrades; i++) {
		const struct fake_trade *t = &f->trades[i];
		if (!*t->txn || t->bill_hide)
			continue;
		china(t->paid_s, "%Y-%m-%d", day);
		if (strcmp(day, date))
			continue;
		pay_row(f, &c, t->paid_s, t->txn, t->out_trade_no, *t->openid ? t->openid : "oFakePayer",
			!strcmp(t->mode, "jsapi") ? "JSAPI" : "NATIVE", t->bill_amount >= 0 ? t->bill_amount : t->amount,
			t->description);
	}
	for (size_t i = 0; i < f->nextras; i++)
		if (!strcmp(f->extras[i].date, date))
			pay_row(f, &c, f->extras[i].at_s, f->extras[i].txn, f->extras[i].out_trade_no, "oFakePayer",
				"NATIVE", f->extras[i].amount, "extra");
	for (size_t i = 0; i < f->nrefunds; i++) {
		const struct fake_refund *rf = &f->refunds[i];
		const struct fake_trade *t = trade_by_txn(f, rf->txn);
		china(rf->created_s, "%Y-%m-%d", day);
		if (t && rf->state != FR_FAILED && !strcmp(day, date))
			refund_row(f, &c, rf, t);
	}
	if (!c.count) {
		free(c.p);
		return NULL;
	}
	char n[32], pay[32], refund[32], order[32];
	snprintf(n, sizeof n, "%zu", c.count);
	bill_format_decimal(c.pay, 2, pay, sizeof pay);
	bill_format_decimal(c.refund, 2, refund, sizeof refund);
	bill_format_decimal(c.order, 2, order, sizeof order);
	csv_put(&c, "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
	const char *sum[] = {n, pay, refund, "0.00", "0.00000", order, refund};
	csv_row(&c, sum, 7);
	return c.p;
}

static void tradebill(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *date = peer_query(r, "bill_date"), *type = peer_query(r, "bill_type");
	int y, m, d;
	char tail;
	if (!date || strlen(date) != 10 || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
	    d < 1 || d > 31 || date[4] != '-' || date[7] != '-')
		refuse(f, out, 400, "PARAM_ERROR", "bill_date须为yyyy-MM-dd");
	else if (type && strcmp(type, "ALL"))
		refuse(f, out, 400, "PARAM_ERROR", "the fake serves bill_type ALL only");
	else if (peer_query(r, "tar_type"))
		refuse(f, out, 400, "PARAM_ERROR", "the fake serves no tar_type");
	else {
		f->calls[FC_BILL]++;
		char *csv = build_bill(f, date);
		if (!csv) {
			error_reply(f, out, 400, "NO_STATEMENT_EXIST", "账单不存在");
			return;
		}
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned n = 0;
		char hex[41];
		EVP_Digest(csv, strlen(csv), md, &n, EVP_sha1(), NULL);
		for (unsigned i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (f->wx_bill_tamper) { /* a digit of the details changed in transit */
			char *q = strchr(csv, '\n');
			while (q && *q && (*q < '0' || *q > '9'))
				q++;
			if (q && *q)
				*q = *q == '9' ? '0' : (char)(*q + 1);
		}
		char url[256], token[40];
		hex_random(token, 16);
		pthread_mutex_lock(&issued_mu);
		struct issued *is = &issued[issued_next++ % 16];
		free(is->csv);
		is->f = f;
		is->csv = csv;
		is->expires_s = (int64_t)time(NULL) + 300;
		snprintf(is->token, sizeof is->token, "%s", token);
		pthread_mutex_unlock(&issued_mu);
		snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/billdownload/file?token=%s", f->port, token);
		reply_json(f, out, 200,
			   json_pack("{s:s, s:s, s:s}", "hash_type", "SHA1", "hash_value", hex, "download_url", url));
	}
}

static void download(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *token = peer_query(r, "token");
	char *csv = NULL;
	pthread_mutex_lock(&issued_mu);
	for (size_t i = 0; token && !csv && i < 16; i++)
		if (issued[i].f == f && issued[i].csv && !strcmp(issued[i].token, token) &&
		    issued[i].expires_s > (int64_t)time(NULL) && !(csv = strdup(issued[i].csv)))
			abort();
	pthread_mutex_unlock(&issued_mu);
	if (!csv) {
		refuse(f, out, 400, "PARAM_ERROR", "token无效或已过期");
		return;
	}
	out->status = 200;
	out->body = csv;
	out->content_type = "text/plain; charset=utf-8"; /* not signed: the signed hash_value vouches for it */
}

/* ---- the paths ---- */

void fake_wechat(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	static const char trade[] = "/v3/pay/transactions/out-trade-no/", refunds[] = "/v3/refund/domestic/refunds";
	pthread_mutex_lock(&f->mu);
	bool post = !strcmp(r->method, "POST"), get = !strcmp(r->method, "GET");
	const char *p = r->path;
	if (!checked(f, r, out))
		goto out;
	if (post && !strcmp(p, "/v3/pay/transactions/native"))
		create(f, r, out, false);
	else if (post && !strcmp(p, "/v3/pay/transactions/jsapi"))
		create(f, r, out, true);
	else if (!strncmp(p, trade, sizeof trade - 1)) {
		char no[64];
		const char *rest = p + sizeof trade - 1, *slash = strchr(rest, '/');
		size_t l = slash ? (size_t)(slash - rest) : strlen(rest);
		snprintf(no, sizeof no, "%.*s", (int)(l < sizeof no ? l : sizeof no - 1), rest);
		if (!id_ok(no, 6, 32))
			refuse(f, out, 400, "PARAM_ERROR", "out_trade_no须为6..32位数字、字母、_-*");
		else if (get && !slash)
			query(f, r, out, no);
		else if (post && slash && !strcmp(slash, "/close"))
			close_trade(f, r, out, no);
		else
			refuse(f, out, 404, "NOT_FOUND", "%s %s: no such path", r->method, p);
	} else if (post && !strcmp(p, refunds))
		refund(f, r, out);
	else if (get && !strncmp(p, refunds, sizeof refunds - 1) && p[sizeof refunds - 1] == '/' &&
		 id_ok(p + sizeof refunds, 1, 64))
		refund_query(f, out, p + sizeof refunds);
	else if (get && !strcmp(p, "/v3/bill/tradebill"))
		tradebill(f, r, out);
	else if (get && !strcmp(p, "/v3/billdownload/file"))
		download(f, r, out);
	else
		refuse(f, out, 404, "NOT_FOUND", "%s %s: no such path", r->method, p);
out:
	pthread_mutex_unlock(&f->mu);
}
