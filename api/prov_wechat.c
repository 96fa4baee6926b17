/* prov_wechat.c: calling WeChat Pay API v3 (provider.h): Native and JSAPI orders, order
 * queries and closes, domestic refunds and their queries, the day's trade bill.
 *
 * Every request carries Authorization: WECHATPAY2-SHA256-RSA2048 with the merchant key's
 * RSA-SHA256 over "METHOD\nURL\ntimestamp\nnonce\nbody\n" (URL: the path and query as sent).
 * Every 2xx answer but the bill file's is checked against the platform key over its
 * Wechatpay-Timestamp, -Nonce and the raw body; one that fails is PR_ERROR "bad_signature".
 * The bill file is not signed by WeChat: its SHA1 must equal the signed hash_value.
 *
 * A 4xx answer's {"code","message"} is PR_REFUSED with WeChat's code, except SYSTEM_ERROR;
 * a 5xx answer, a 429 (FREQUENCY_LIMITED) and SYSTEM_ERROR are PR_ERROR with WeChat's code:
 * WeChat says to try again with the same parameters, so the outcome is not a refusal.
 *
 * Timestamps put in requests are the wall clock, as WeChat checks them against its own. */
#include "api/provider.h"
#include "core/money.h"
#include "core/paysig.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHINA_OFFSET_S (8 * 3600)

/* WeChat's ids (out_trade_no, out_refund_no): digits, letters, _ - * and nothing else, so
 * that they go into a path as they are. */
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

/* The path and query of an absolute URL, as the request line carries it. */
static const char *url_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : "/";
}

/* A refusal (or an error) from a non-2xx answer's {"code","message"}. */
static int refused(const struct prov_http_reply *rep, struct prov_status *st)
{
	json_t *j = pay_parse_json(rep->body, rep->body_len);
	const char *code = json_string_value(json_object_get(j, "code"));
	const char *msg = json_string_value(json_object_get(j, "message"));
	int rc;
	if (!code || !*code)
		rc = prov_fail(st, PR_ERROR, rep->status, "bad_reply", "WeChat answered %ld without an error code",
			       rep->status);
	else
		rc = prov_fail(st,
			       rep->status >= 500 || rep->status == 429 || !strcmp(code, "SYSTEM_ERROR") ? PR_ERROR
												      : PR_REFUSED,
			       rep->status, code, "%s", msg ? msg : "");
	json_decref(j);
	return rc;
}

/* One signed exchange. body: NULL for none (serialized compactly otherwise). verify: check
 * the answer's Wechatpay-* signature when it is 2xx. 0 with *rep filled (caller frees) for a
 * 2xx answer that checks; 0 with *rep filled and st PR_REFUSED/PR_ERROR set from its
 * {"code"} for any other answer, so that a caller may read a code it expects (404
 * ORDER_NOT_EXIST); -1 with st set (and *rep empty) otherwise. */
static int exchange(const char *method, const char *url, json_t *body, bool verify, struct prov_http_reply *rep,
		    struct prov_status *st)
{
	memset(rep, 0, sizeof *rep);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text)
		abort();
	const char *b = text ? text : "";
	char ts[24], nonce[33];
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	prov_nonce(nonce);
	const char *path = url_path(url);
	size_t mlen = strlen(method) + strlen(path) + strlen(ts) + strlen(nonce) + strlen(b) + 6;
	char *msg = malloc(mlen);
	if (!msg)
		abort();
	snprintf(msg, mlen, "%s\n%s\n%s\n%s\n%s\n", method, path, ts, nonce, b);
	char *sig = bill_rsa_sha256_sign(pay_cfg.wx_merchant, msg, strlen(msg));
	free(msg);
	if (!sig) {
		free(text);
		return prov_fail(st, PR_ERROR, 0, "transport", "the merchant key cannot sign");
	}
	char auth[1024];
	snprintf(auth, sizeof auth,
		 "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"%s\",nonce_str=\"%s\",signature=\"%s\","
		 "timestamp=\"%s\",serial_no=\"%s\"",
		 pay_cfg.wx_mchid, nonce, sig, ts, pay_cfg.wx_merchant_serial);
	free(sig);
	const char *headers[] = {auth, "Accept: application/json", text ? "Content-Type: application/json" : NULL,
				 NULL};
	struct prov_http rq = {method, url, headers, text, text ? strlen(text) : 0};
	int rc = prov_http(&rq, rep, st);
	free(text);
	if (rc)
		return -1;
	if (rep->status < 200 || rep->status > 299) {
		refused(rep, st);
		return 0;
	}
	if (!verify)
		return 0;
	char serial[128], wts[32], wnonce[128], wsig[1024];
	enum bill_sig s = bill_wechat_verify(pay_cfg.wx_pub, pay_cfg.wx_serial,
					     prov_http_header(rep, "Wechatpay-Serial", serial, sizeof serial),
					     prov_http_header(rep, "Wechatpay-Timestamp", wts, sizeof wts),
					     prov_http_header(rep, "Wechatpay-Nonce", wnonce, sizeof wnonce),
					     prov_http_header(rep, "Wechatpay-Signature", wsig, sizeof wsig), rep->body,
					     rep->body_len, (int64_t)time(NULL));
	if (s != SIG_OK) {
		long status = rep->status;
		prov_http_reply_free(rep);
		return prov_fail(st, PR_ERROR, status, "bad_signature", "WeChat's answer signature is %s",
				 bill_sig_name(s));
	}
	return 0;
}

/* A 2xx answer's JSON object, or NULL with st PR_ERROR "bad_reply". A refusal already in
 * st is kept (NULL). */
static json_t *answer(const struct prov_http_reply *rep, struct prov_status *st)
{
	if (st->result != PR_OK)
		return NULL;
	json_t *j = pay_parse_json(rep->body, rep->body_len);
	if (!j)
		prov_fail(st, PR_ERROR, rep->status, "bad_reply", "WeChat's answer is not a JSON object");
	return j;
}

/* The API base and the path (printf) into buf. */
static void api_url(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void api_url(char *buf, size_t n, const char *fmt, ...)
{
	int l = snprintf(buf, n, "%s", pay_cfg.wx_api_base);
	if (l > 0 && (size_t)l < n && buf[l - 1] == '/')
		buf[--l] = 0;
	if (l > 0 && (size_t)l < n) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf + l, n - (size_t)l, fmt, ap);
		va_end(ap);
	}
}

static void notify_url(char *buf, size_t n)
{
	size_t l = strlen(pay_cfg.public_url);
	while (l && pay_cfg.public_url[l - 1] == '/')
		l--;
	snprintf(buf, n, "%.*s/v1/webhooks/payments/wechat", (int)l, pay_cfg.public_url);
}

/* RFC 3339 in China time, as WeChat writes and reads times: 2026-12-01T10:12:01+08:00. */
static void rfc3339_china(int64_t s, char out[32])
{
	time_t t = (time_t)(s + CHINA_OFFSET_S);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
}

/* ---- orders ---- */

static int order_create(const struct prov_order_req *rq, struct prov_order *out, struct prov_status *st)
{
	if (!id_ok(rq->out_trade_no, 6, 32) || rq->amount_minor <= 0 || rq->amount_minor > INT32_MAX ||
	    !rq->description || !*rq->description)
		return prov_fail(st, PR_ERROR, 0, "bad_request",
				 "WeChat needs out_trade_no of 6..32 [0-9A-Za-z_-*], a description and an amount"
				 " in 1..2^31-1 fen");
	bool jsapi = rq->openid && *rq->openid;
	char expire[32], notify[1024], url[1024];
	rfc3339_china(rq->expires_s, expire);
	notify_url(notify, sizeof notify);
	api_url(url, sizeof url, "/v3/pay/transactions/%s", jsapi ? "jsapi" : "native");
	/* WeChat counts description in characters up to 127; cut by bytes at a UTF-8 boundary. */
	char desc[128];
	size_t dl = strlen(rq->description);
	if (dl > 127) {
		dl = 127;
		while (dl && ((unsigned char)rq->description[dl] & 0xC0) == 0x80)
			dl--;
	}
	snprintf(desc, sizeof desc, "%.*s", (int)dl, rq->description);
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:s}}", "appid", pay_cfg.wx_appid, "mchid",
				 pay_cfg.wx_mchid, "description", desc, "out_trade_no", rq->out_trade_no,
				 "time_expire", expire, "notify_url", notify, "amount", "total",
				 (json_int_t)rq->amount_minor, "currency", rq->currency ? rq->currency : "CNY");
	if (!body)
		abort();
	if (jsapi)
		json_object_set_new(body, "payer", json_pack("{s:s}", "openid", rq->openid));
	struct prov_http_reply rep;
	int rc = exchange("POST", url, body, true, &rep, st);
	json_decref(body);
	if (rc)
		return -1;
	json_t *j = answer(&rep, st);
	rc = -1;
	if (!j)
		goto out;
	if (jsapi) {
		const char *prepay = json_string_value(json_object_get(j, "prepay_id"));
		if (!prepay || !*prepay || strlen(prepay) >= sizeof out->provider_ref) {
			prov_fail(st, PR_ERROR, rep.status, "bad_reply", "WeChat's JSAPI answer has no prepay_id");
			goto out;
		}
		snprintf(out->provider_ref, sizeof out->provider_ref, "%s", prepay);
		/* The page's WeixinJSBridge: signed by the merchant key over its four fields. */
		char ts[24], nonce[33], package[300];
		snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
		prov_nonce(nonce);
		snprintf(package, sizeof package, "prepay_id=%s", prepay);
		size_t ml = strlen(pay_cfg.wx_appid) + strlen(ts) + strlen(nonce) + strlen(package) + 5;
		char *m = malloc(ml);
		if (!m)
			abort();
		snprintf(m, ml, "%s\n%s\n%s\n%s\n", pay_cfg.wx_appid, ts, nonce, package);
		char *sig = bill_rsa_sha256_sign(pay_cfg.wx_merchant, m, strlen(m));
		free(m);
		if (!sig) {
			prov_fail(st, PR_ERROR, rep.status, "transport", "the merchant key cannot sign");
			goto out;
		}
		out->pay_params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "appId", pay_cfg.wx_appid, "timeStamp",
					    ts, "nonceStr", nonce, "package", package, "signType", "RSA", "paySign", sig);
		free(sig);
		if (!out->pay_params)
			abort();
	} else {
		const char *code_url = json_string_value(json_object_get(j, "code_url"));
		if (!code_url || !*code_url || strlen(code_url) >= sizeof out->pay_url) {
			prov_fail(st, PR_ERROR, rep.status, "bad_reply", "WeChat's Native answer has no code_url");
			goto out;
		}
		snprintf(out->pay_url, sizeof out->pay_url, "%s", code_url);
	}
	rc = 0;
out:
	json_decref(j);
	prov_http_reply_free(&rep);
	return rc;
}

static int order_query(const char *out_trade_no, const char *provider_ref, struct prov_trade *out,
		       struct prov_status *st)
{
	(void)provider_ref;
	if (!id_ok(out_trade_no, 6, 32))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "out_trade_no is not a WeChat order number");
	char url[1024];
	api_url(url, sizeof url, "/v3/pay/transactions/out-trade-no/%s?mchid=%s", out_trade_no, pay_cfg.wx_mchid);
	struct prov_http_reply rep;
	if (exchange("GET", url, NULL, true, &rep, st))
		return -1;
	int rc = -1;
	json_t *j = NULL;
	if (rep.status == 404 && !strcmp(st->code, "ORDER_NOT_EXIST")) {
		memset(st, 0, sizeof *st);
		st->http_status = rep.status;
		out->state = TRADE_UNKNOWN;
		rc = 0;
		goto out;
	}
	if (!(j = answer(&rep, st)))
		goto out;
	const char *state = json_string_value(json_object_get(j, "trade_state"));
	const char *no = json_string_value(json_object_get(j, "out_trade_no"));
	if (!state || !no || strcmp(no, out_trade_no)) {
		prov_fail(st, PR_ERROR, rep.status, "bad_reply", "WeChat's answer is not about this order");
		goto out;
	}
	if (!strcmp(state, "SUCCESS") || !strcmp(state, "REFUND")) { /* REFUND: paid, then refunded */
		json_t *amount = json_object_get(j, "amount");
		json_t *total = json_object_get(amount, "total");
		const char *txn = json_string_value(json_object_get(j, "transaction_id"));
		const char *cur = json_string_value(json_object_get(amount, "currency"));
		if (!txn || !*txn || strlen(txn) >= sizeof out->txn || !json_is_integer(total) ||
		    json_integer_value(total) < 0 || json_integer_value(total) > MAX_AMOUNT) {
			prov_fail(st, PR_ERROR, rep.status, "bad_reply",
				  "WeChat's paid order lacks transaction_id or amount.total");
			goto out;
		}
		out->state = TRADE_PAID;
		snprintf(out->txn, sizeof out->txn, "%s", txn);
		out->amount_minor = json_integer_value(total);
		pay_upcase(out->currency, cur ? cur : "CNY");
	} else if (!strcmp(state, "NOTPAY") || !strcmp(state, "USERPAYING") || !strcmp(state, "ACCEPT")) {
		out->state = TRADE_OPEN;
	} else if (!strcmp(state, "CLOSED") || !strcmp(state, "REVOKED") || !strcmp(state, "PAYERROR")) {
		out->state = TRADE_CLOSED;
	} else {
		prov_fail(st, PR_ERROR, rep.status, "bad_reply", "WeChat's trade_state %.40s is unknown", state);
		goto out;
	}
	out->raw = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	prov_http_reply_free(&rep);
	return rc;
}

static int order_close(const char *out_trade_no, const char *provider_ref, struct prov_status *st)
{
	(void)provider_ref;
	if (!id_ok(out_trade_no, 6, 32))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "out_trade_no is not a WeChat order number");
	char url[1024];
	api_url(url, sizeof url, "/v3/pay/transactions/out-trade-no/%s/close", out_trade_no);
	json_t *body = json_pack("{s:s}", "mchid", pay_cfg.wx_mchid);
	struct prov_http_reply rep;
	int rc = exchange("POST", url, body, true, &rep, st);
	json_decref(body);
	if (rc)
		return -1;
	long status = rep.status;
	prov_http_reply_free(&rep);
	if (st->result == PR_OK)
		return 0; /* 204, its (empty) body signed */
	if (!strcmp(st->code, "ORDERPAID"))
		return prov_fail(st, PR_REFUSED, status, "paid", "the order is paid: it cannot be closed");
	if (!strcmp(st->code, "ORDER_NOT_EXIST")) {
		/* Never created at WeChat: nothing can pay it, which is what closing is for. */
		memset(st, 0, sizeof *st);
		st->http_status = status;
		return 0;
	}
	return -1;
}

/* ---- refunds ---- */

/* A refund answer (POST or GET) into out. */
static int refund_answer(const struct prov_refund_req *rq, struct prov_http_reply *rep, struct prov_refund *out,
			 struct prov_status *st)
{
	json_t *j = answer(rep, st);
	if (!j)
		return -1;
	const char *status = json_string_value(json_object_get(j, "status"));
	const char *id = json_string_value(json_object_get(j, "refund_id"));
	const char *no = json_string_value(json_object_get(j, "out_refund_no"));
	int rc = -1;
	if (!status || !id || !*id || strlen(id) >= sizeof out->refund_ref || !no || strcmp(no, rq->out_refund_no)) {
		prov_fail(st, PR_ERROR, rep->status, "bad_reply", "WeChat's refund answer is not about this refund");
		goto out;
	}
	if (!strcmp(status, "SUCCESS"))
		out->state = REFUND_SUCCEEDED;
	else if (!strcmp(status, "PROCESSING"))
		out->state = REFUND_PENDING;
	else if (!strcmp(status, "CLOSED") || !strcmp(status, "ABNORMAL"))
		out->state = REFUND_FAILED;
	else {
		prov_fail(st, PR_ERROR, rep->status, "bad_reply", "WeChat's refund status %.40s is unknown", status);
		goto out;
	}
	snprintf(out->refund_ref, sizeof out->refund_ref, "%s", id);
	out->raw = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

static int refund(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	bool by_txn = rq->txn && *rq->txn;
	if (!id_ok(rq->out_refund_no, 1, 64) || (!by_txn && !id_ok(rq->out_trade_no, 6, 32)) ||
	    rq->amount_minor <= 0 || rq->total_minor < rq->amount_minor || rq->total_minor > INT32_MAX)
		return prov_fail(st, PR_ERROR, 0, "bad_request",
				 "WeChat needs out_refund_no of 1..64 [0-9A-Za-z_-*], the payment, and 0 < refund"
				 " <= total < 2^31 fen");
	char url[1024], notify[1024];
	api_url(url, sizeof url, "/v3/refund/domestic/refunds");
	notify_url(notify, sizeof notify);
	json_t *body = json_pack("{s:s, s:s, s:{s:I, s:I, s:s}}", "out_refund_no", rq->out_refund_no, "notify_url",
				 notify, "amount", "refund", (json_int_t)rq->amount_minor, "total",
				 (json_int_t)rq->total_minor, "currency", rq->currency ? rq->currency : "CNY");
	if (!body)
		abort();
	json_object_set_new(body, by_txn ? "transaction_id" : "out_trade_no",
			    json_string(by_txn ? rq->txn : rq->out_trade_no));
	if (rq->reason && *rq->reason) { /* at most 80 characters; cut by bytes at a UTF-8 boundary */
		char reason[81];
		size_t rl = strlen(rq->reason);
		if (rl > 80) {
			rl = 80;
			while (rl && ((unsigned char)rq->reason[rl] & 0xC0) == 0x80)
				rl--;
		}
		snprintf(reason, sizeof reason, "%.*s", (int)rl, rq->reason);
		json_object_set_new(body, "reason", json_string(reason));
	}
	struct prov_http_reply rep;
	int rc = exchange("POST", url, body, true, &rep, st);
	json_decref(body);
	if (rc)
		return -1;
	rc = refund_answer(rq, &rep, out, st);
	prov_http_reply_free(&rep);
	return rc;
}

static int refund_query(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	if (!id_ok(rq->out_refund_no, 1, 64))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "out_refund_no is not a WeChat refund number");
	char url[1024];
	api_url(url, sizeof url, "/v3/refund/domestic/refunds/%s", rq->out_refund_no);
	struct prov_http_reply rep;
	if (exchange("GET", url, NULL, true, &rep, st))
		return -1;
	int rc = refund_answer(rq, &rep, out, st);
	prov_http_reply_free(&rep);
	return rc;
}

/* ---- the bill ---- */

/* "2026-11-30 10:12:01" in China time to unix seconds; -1 when malformed. */
static int64_t china_time(const char *s)
{
	int y, mo, d, h, mi, se;
	char tail;
	if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &tail) != 6 || mo < 1 || mo > 12 ||
	    d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || h < 0 || mi < 0 || se < 0)
		return -1;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
	return (int64_t)timegm(&tm) - CHINA_OFFSET_S;
}

/* Split line (modified in place) at sep into at most max fields; how many. */
static size_t split(char *line, const char *sep, char **f, size_t max)
{
	size_t n = 0, sl = strlen(sep);
	for (char *p = line; n < max;) {
		f[n++] = p;
		char *q = strstr(p, sep);
		if (!q)
			break;
		*q = 0;
		p = q + sl;
	}
	return n;
}

#define BILL_COLS 64

/* The column named name in the header, or -1. */
static int col(char *const *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(h[i], name))
			return (int)i;
	return -1;
}

static int push(struct prov_bill_line **lines, size_t *n, size_t *cap, const struct prov_bill_line *l)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		struct prov_bill_line *p = realloc(*lines, *cap * sizeof **lines);
		if (!p)
			abort();
		*lines = p;
	}
	(*lines)[(*n)++] = *l;
	return 0;
}

/* A yuan amount ("0.01") into fen, exactly. */
static int yuan(const char *s, int64_t *out) { return bill_parse_decimal(s, 2, MAX_AMOUNT, out); }

/* Parse the trade bill WeChat sends (csv, NUL-terminated, modified): a header row, then
 * detail rows whose every field starts with '`' (so they are split at ",`": a description
 * may hold a comma), then the summary's header and row, which are skipped. Columns are
 * found by name. 0, or -1 with st PR_ERROR "bad_reply". */
static int parse_bill(char *csv, struct prov_bill_line **lines, size_t *n, struct prov_status *st)
{
	size_t cap = 0;
	char *p = csv;
	if (!strncmp(p, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte order mark */
		p += 3;
	char *hdr[BILL_COLS];
	size_t nh = 0;
	int c_time = -1, c_txn = -1, c_no = -1, c_state = -1, c_cur = -1, c_amt = -1, c_rid = -1, c_rno = -1,
	    c_ramt = -1;
	for (size_t lineno = 1; *p; lineno++) {
		char *line = p, *nl = strchr(p, '\n');
		p = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = 0;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = 0;
		if (!l)
			continue;
		if (!nh) {
			nh = split(line, ",", hdr, BILL_COLS);
			for (size_t i = 0; i < nh; i++)
				if (hdr[i][0] == '`')
					hdr[i]++;
			c_time = col(hdr, nh, "交易时间");
			c_txn = col(hdr, nh, "微信订单号");
			c_no = col(hdr, nh, "商户订单号");
			c_state = col(hdr, nh, "交易状态");
			c_cur = col(hdr, nh, "货币种类");
			/* 订单金额, the order's total: what the notification's amount.total says and
			 * wattle credits (应结订单金额 is less the provider's coupons) */
			c_amt = col(hdr, nh, "订单金额");
			if (c_amt < 0)
				c_amt = col(hdr, nh, "应结订单金额");
			if (c_amt < 0) /* the bills of old merchants */
				c_amt = col(hdr, nh, "总金额");
			c_rid = col(hdr, nh, "微信退款单号");
			c_rno = col(hdr, nh, "商户退款单号");
			c_ramt = col(hdr, nh, "退款金额");
			if (c_time < 0 || c_txn < 0 || c_no < 0 || c_state < 0 || c_amt < 0)
				goto bad_header;
			continue;
		}
		if (line[0] != '`') /* the summary's header: the details are over */
			break;
		char *f[BILL_COLS];
		size_t nf = split(line + 1, ",`", f, BILL_COLS);
		if (nf != nh)
			return prov_fail(st, PR_ERROR, 200, "bad_reply", "bill line %zu has %zu fields, the header %zu",
					 lineno, nf, nh);
		struct prov_bill_line b = {0};
		const char *state = f[c_state];
		b.at_s = china_time(f[c_time]);
		const char *amt;
		if (!strcmp(state, "SUCCESS")) {
			amt = f[c_amt];
		} else if (!strcmp(state, "REFUND")) {
			if (c_rid < 0 || c_ramt < 0)
				goto bad_header;
			b.refund = true;
			amt = f[c_ramt];
			snprintf(b.refund_ref, sizeof b.refund_ref, "%s", f[c_rid]);
		} else if (!strcmp(state, "REVOKED")) { /* paid, then revoked: the money went back */
			b.refund = true;
			amt = f[c_amt];
		} else {
			return prov_fail(st, PR_ERROR, 200, "bad_reply", "bill line %zu: 交易状态 %.20s is unknown",
					 lineno, state);
		}
		if (b.at_s < 0 || yuan(amt, &b.amount_minor) || !*f[c_txn] || strlen(f[c_txn]) >= sizeof b.txn ||
		    strlen(f[c_no]) >= sizeof b.out_trade_no)
			return prov_fail(st, PR_ERROR, 200, "bad_reply",
					 "bill line %zu: a time, an amount or an order number is malformed", lineno);
		snprintf(b.txn, sizeof b.txn, "%s", f[c_txn]);
		snprintf(b.out_trade_no, sizeof b.out_trade_no, "%s", f[c_no]);
		pay_upcase(b.currency, c_cur >= 0 && *f[c_cur] ? f[c_cur] : "CNY");
		(void)c_rno;
		push(lines, n, &cap, &b);
	}
	if (!nh)
		return prov_fail(st, PR_ERROR, 200, "bad_reply", "the bill is empty");
	return 0;
bad_header:
	return prov_fail(st, PR_ERROR, 200, "bad_reply", "the bill's header lacks a column wattle reads");
}

static int bill(const char *date, int64_t from_s, int64_t to_s, struct prov_bill_line **lines, size_t *n,
		struct prov_status *st)
{
	(void)from_s;
	(void)to_s;
	int y, m, d;
	char tail;
	if (!date || strlen(date) != 10 || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "the bill date must be YYYY-MM-DD");
	char url[1024];
	api_url(url, sizeof url, "/v3/bill/tradebill?bill_date=%s&bill_type=%s", date, "ALL");
	struct prov_http_reply rep;
	if (exchange("GET", url, NULL, true, &rep, st))
		return -1;
	int rc = -1;
	json_t *j = NULL;
	if (st->result == PR_REFUSED && !strcmp(st->code, "NO_STATEMENT_EXIST")) {
		/* No bill for a day without a trade: an empty statement. */
		long status = rep.status;
		memset(st, 0, sizeof *st);
		st->http_status = status;
		rc = 0;
		goto out;
	}
	if (!(j = answer(&rep, st)))
		goto out;
	const char *dl = json_string_value(json_object_get(j, "download_url"));
	const char *ht = json_string_value(json_object_get(j, "hash_type"));
	const char *hv = json_string_value(json_object_get(j, "hash_value"));
	if (!dl || (strncmp(dl, "https://", 8) && strncmp(dl, "http://", 7)) || !ht || strcasecmp(ht, "SHA1") || !hv ||
	    strlen(hv) != 40) {
		prov_fail(st, PR_ERROR, rep.status, "bad_reply", "WeChat's bill answer lacks download_url or a SHA1");
		goto out;
	}
	struct prov_http_reply file;
	/* The file's answer carries no Wechatpay-Signature: its hash, signed above, is checked. */
	if (exchange("GET", dl, NULL, false, &file, st))
		goto out;
	if (st->result != PR_OK) {
		prov_http_reply_free(&file);
		goto out;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdl = 0;
	char hex[41];
	if (!EVP_Digest(file.body, file.body_len, md, &mdl, EVP_sha1(), NULL) || mdl != 20)
		abort();
	for (unsigned i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcasecmp(hex, hv)) {
		prov_fail(st, PR_ERROR, file.status, "bad_signature", "the bill file's SHA1 is not WeChat's hash_value");
		prov_http_reply_free(&file);
		goto out;
	}
	if (memchr(file.body, 0, file.body_len)) {
		prov_fail(st, PR_ERROR, file.status, "bad_reply", "the bill file holds a NUL byte");
		prov_http_reply_free(&file);
		goto out;
	}
	rc = parse_bill(file.body, lines, n, st);
	prov_http_reply_free(&file);
	if (rc) {
		free(*lines);
		*lines = NULL;
		*n = 0;
	}
out:
	json_decref(j);
	prov_http_reply_free(&rep);
	return rc;
}

const struct prov_ops prov_wechat_ops = {order_create, order_query, order_close, refund, refund_query, bill};
