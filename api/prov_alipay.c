/* prov_alipay.c: calling Alipay's open API (provider.h). Every call is a POST of a signed form
 * to the gateway (WATTLE_ALIPAY_GATEWAY): the common parameters (app_id, method, format JSON,
 * charset utf-8, sign_type RSA2, timestamp in China time, version 1.0, notify_url where it
 * applies) and biz_content, signed RSA-SHA256 with the application private key over every
 * other non-empty parameter sorted by key. The answer {"<method>_response": {...}, "sign"}
 * is checked with Alipay's public key over the response object's text exactly as received.
 * The phone browser's alipay.trade.wap.pay is a page: its signed URL is built here and opened
 * by the tenant, without a call. The day's bill is a ZIP of GBK CSV files (libzip, ICU). */
#include "api/provider.h"
#include "core/buf.h"
#include "core/money.h"
#include "core/paysig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unicode/ucnv.h>
#include <zip.h>

#define CHINA_OFFSET_S (8 * 3600) /* Alipay's times are Beijing time, +08:00, no DST */
#define MAX_BILL_FILE ((zip_uint64_t)64 << 20)

/* Percent-encoding of a form value: everything but RFC 3986's unreserved characters, so a
 * space is %20 and '+' is %2B (a form decoder reads both right). In a URL's query (in_url)
 * the sub-delimiters a query may carry as they are (":/,@!$()*") stay, to keep the wap
 * pay URL short: it has a base64 signature, a URL and a JSON object in it. */
/* Percent-encoding of a form value: everything but RFC 3986's unreserved characters, so a
 * space is %20 and '+' is %2B (a form decoder reads both right). In a URL's query (in_url)
 * the sub-delimiters a query may carry as they are (":/,@!$()*") stay, to keep the wap
 * pay URL short: it has a base64 signature, a URL and a JSON object in it. */
static void sb_enc(struct srv_buf *b, const char *s, bool in_url) { srv_buf_pct(b, s, in_url ? ":/,@!$()*" : NULL); }

/* ---- the request's parameters ---- */

#define MAX_PARAMS 16
struct params {
	size_t n;
	char *k[MAX_PARAMS], *v[MAX_PARAMS];
};

static void param(struct params *ps, const char *k, const char *v)
{
	if (ps->n == MAX_PARAMS)
		abort();
	if (!(ps->k[ps->n] = strdup(k)) || !(ps->v[ps->n] = strdup(v ? v : "")))
		abort();
	ps->n++;
}

static void params_free(struct params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->k[i]);
		free(ps->v[i]);
	}
	ps->n = 0;
}

/* The open API's string to sign: every parameter but sign (sign_type included, unlike a
 * notification's) whose value is not empty, sorted by key, "k=v" joined by '&', values as
 * they are (not encoded). New: caller frees. */
static char *sign_content(const struct params *ps)
{
	size_t idx[MAX_PARAMS], k = 0;
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->k[i], "sign") && *ps->v[i])
			idx[k++] = i;
	/* Insertion sort by key (bytewise): at most 16 distinct keys, and qsort has no
	 * context argument. */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && strcmp(ps->k[idx[j - 1]], ps->k[idx[j]]) > 0; j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	struct srv_buf b = {0};
	srv_buf_puts(&b, "");
	for (size_t i = 0; i < k; i++) {
		if (i)
			srv_buf_puts(&b, "&");
		srv_buf_puts(&b, ps->k[idx[i]]);
		srv_buf_puts(&b, "=");
		srv_buf_puts(&b, ps->v[idx[i]]);
	}
	return b.p;
}

/* "yyyy-MM-dd HH:mm:ss" in China time for unix seconds t. */
static void china_time(int64_t t, char out[20])
{
	time_t c = (time_t)(t + CHINA_OFFSET_S);
	struct tm tm;
	gmtime_r(&c, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The reverse: China time text into unix seconds; -1 when malformed. */
static int64_t china_parse(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm) - CHINA_OFFSET_S;
}

/* Minor units (fen) as yuan, "12.34", into out[32]; -1 when negative. */
static int yuan(int64_t minor, char out[32])
{
	if (minor < 0)
		return -1;
	snprintf(out, 32, "%lld.%02lld", (long long)(minor / 100), (long long)(minor % 100));
	return 0;
}

/* Alipay's trades are in CNY (fen): refuse any other currency before calling. */
static int cny_only(const char *currency, struct prov_status *st)
{
	if (currency && strcasecmp(currency, "CNY"))
		return prov_fail(st, PR_ERROR, 0, "unsupported_currency", "Alipay takes CNY, not %s", currency);
	return 0;
}

/* The common parameters of method with biz (borrowed), and notify_url when notify; then
 * sign. -1 with st set when the key cannot sign. */
static int build(struct params *ps, const char *method, json_t *biz, bool notify, struct prov_status *st)
{
	char ts[20];
	china_time((int64_t)time(NULL), ts);
	param(ps, "app_id", pay_cfg.ali_app_id);
	param(ps, "method", method);
	param(ps, "format", "JSON");
	param(ps, "charset", "utf-8");
	param(ps, "sign_type", "RSA2");
	param(ps, "timestamp", ts);
	param(ps, "version", "1.0");
	if (notify) {
		struct srv_buf u = {0};
		srv_buf_puts(&u, pay_cfg.public_url);
		srv_buf_puts(&u, "/v1/webhooks/payments/alipay");
		param(ps, "notify_url", u.p);
		free(u.p);
	}
	char *bc = json_dumps(biz, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!bc)
		abort();
	param(ps, "biz_content", bc);
	free(bc);
	char *content = sign_content(ps);
	char *sig = bill_rsa_sha256_sign(pay_cfg.ali_priv, content, strlen(content));
	free(content);
	if (!sig)
		return prov_fail(st, PR_ERROR, 0, "bad_key", "the application private key cannot sign");
	param(ps, "sign", sig);
	free(sig);
	return 0;
}

/* The parameters as a form (k=v&..., encoded), or a URL's query when in_url. New: caller
 * frees. */
static char *form(const struct params *ps, bool in_url)
{
	struct srv_buf b = {0};
	srv_buf_puts(&b, "");
	for (size_t i = 0; i < ps->n; i++) {
		if (i)
			srv_buf_puts(&b, "&");
		sb_enc(&b, ps->k[i], in_url);
		srv_buf_puts(&b, "=");
		sb_enc(&b, ps->v[i], in_url);
	}
	return b.p;
}

/* ---- the answer ---- */

static size_t ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Past the JSON string starting at s[i] == '"'; n when unterminated. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return n;
}

/* Past the JSON value starting at s[i]. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
	if (i < n && s[i] == '"')
		return skip_string(s, n, i);
	if (i < n && (s[i] == '{' || s[i] == '[')) {
		int depth = 0;
		while (i < n) {
			if (s[i] == '"') {
				i = skip_string(s, n, i);
				continue;
			}
			if (s[i] == '{' || s[i] == '[')
				depth++;
			else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
				return i + 1;
			i++;
		}
		return n;
	}
	while (i < n && !strchr(",}] \t\r\n", s[i]))
		i++;
	return i;
}

/* Where the value of the top-level member key is in the object text s[0..n): its span, as
 * received, is what Alipay signed. 0, or -1 when absent. The text was parsed already, so it
 * is well-formed; keys are compared as they are written (Alipay's carry no escapes). */
static int member_span(const char *s, size_t n, const char *key, size_t *at, size_t *len)
{
	size_t i = ws(s, n, 0), kl = strlen(key);
	if (i >= n || s[i] != '{')
		return -1;
	i = ws(s, n, i + 1);
	while (i < n && s[i] == '"') {
		size_t kend = skip_string(s, n, i);
		bool match = kend - i == kl + 2 && !memcmp(s + i + 1, key, kl);
		i = ws(s, n, kend);
		if (i >= n || s[i] != ':')
			return -1;
		i = ws(s, n, i + 1);
		size_t vend = skip_value(s, n, i);
		if (match) {
			*at = i;
			*len = vend - i;
			return 0;
		}
		i = ws(s, n, vend);
		if (i < n && s[i] == ',')
			i = ws(s, n, i + 1);
		else
			break;
	}
	return -1;
}

enum answer { ANS_OK, ANS_REFUSED, ANS_ERROR };

/* POST method with biz to the gateway and check the answer. ANS_OK: *obj (new) is the
 * response object with code 10000. ANS_REFUSED: st is PR_REFUSED with sub_code (or code)
 * and sub_msg, *obj the object. ANS_ERROR: st set, *obj NULL. */
static enum answer call(const char *method, json_t *biz, bool notify, json_t **obj, struct prov_status *st)
{
	*obj = NULL;
	struct params ps = {0};
	if (build(&ps, method, biz, notify, st)) {
		params_free(&ps);
		return ANS_ERROR;
	}
	char *body = form(&ps, false);
	params_free(&ps);
	static const char *const hs[] = {"Content-Type: application/x-www-form-urlencoded;charset=utf-8", NULL};
	struct prov_http rq = {"POST", pay_cfg.ali_gateway, hs, body, strlen(body)};
	struct prov_http_reply r;
	int rc = prov_http(&rq, &r, st);
	free(body);
	if (rc)
		return ANS_ERROR;
	enum answer a = ANS_ERROR;
	json_t *all = NULL;
	char name[128];
	snprintf(name, sizeof name, "%s_response", method);
	for (char *p = name; *p; p++)
		if (*p == '.')
			*p = '_';
	size_t at = 0, len = 0;
	if (r.status != 200) {
		prov_fail(st, PR_ERROR, r.status, "bad_reply", "the gateway answered HTTP %ld", r.status);
		goto out;
	}
	if (!(all = json_loadb(r.body, r.body_len, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(all)) {
		prov_fail(st, PR_ERROR, r.status, "bad_reply", "the answer to %s is not a JSON object", method);
		goto out;
	}
	/* The gateway answers error_response when it cannot tell the method (e.g. a bad app_id). */
	if (member_span(r.body, r.body_len, name, &at, &len) &&
	    member_span(r.body, r.body_len, "error_response", &at, &len)) {
		prov_fail(st, PR_ERROR, r.status, "bad_reply", "the answer has no %s", name);
		goto out;
	}
	/* Every answer is signed, refusals too: an unsigned one is not Alipay's. */
	const char *sign = json_string_value(json_object_get(all, "sign"));
	if (!sign || !bill_rsa_sha256_verify(pay_cfg.ali_pub, r.body + at, len, sign)) {
		prov_fail(st, PR_ERROR, r.status, "bad_signature", "the answer to %s is not signed by Alipay's key",
			  method);
		goto out;
	}
	json_t *o = json_loadb(r.body + at, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		prov_fail(st, PR_ERROR, r.status, "bad_reply", "%s is not an object", name);
		goto out;
	}
	const char *code = json_string_value(json_object_get(o, "code"));
	if (code && !strcmp(code, "10000")) {
		a = ANS_OK;
	} else {
		const char *sub = json_string_value(json_object_get(o, "sub_code"));
		const char *msg = json_string_value(json_object_get(o, "sub_msg"));
		if (!msg)
			msg = json_string_value(json_object_get(o, "msg"));
		/* 20000 (service unavailable) and the system errors say "call again with the same
		 * parameters": the outcome is unknown, not a refusal */
		bool again = (code && !strcmp(code, "20000")) ||
			     (sub && (!strcmp(sub, "ACQ.SYSTEM_ERROR") || !strcmp(sub, "aop.ACQ.SYSTEM_ERROR") ||
				      !strcmp(sub, "isp.unknow-error")));
		prov_fail(st, again ? PR_ERROR : PR_REFUSED, r.status, sub && *sub ? sub : code ? code : "unknown", "%s",
			  msg ? msg : "refused");
		a = ANS_REFUSED;
	}
	*obj = o;
out:
	json_decref(all);
	prov_http_reply_free(&r);
	return a;
}

static const char *sget(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static bool refused_with(const struct prov_status *st, const char *code)
{
	return st->result == PR_REFUSED && !strcmp(st->code, code);
}

static void ok_status(struct prov_status *st, long http)
{
	memset(st, 0, sizeof *st);
	st->http_status = http;
}

/* ---- orders ---- */

static int order_create(const struct prov_order_req *rq, struct prov_order *out, struct prov_status *st)
{
	char amount[32], expire[20];
	if (cny_only(rq->currency, st))
		return -1;
	if (!rq->out_trade_no || !*rq->out_trade_no || rq->amount_minor <= 0 || yuan(rq->amount_minor, amount))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "an order needs out_trade_no and a positive amount");
	json_t *biz = json_pack("{s:s, s:s, s:s}", "out_trade_no", rq->out_trade_no, "total_amount", amount,
				"subject", rq->description ? rq->description : "");
	if (!biz)
		abort();
	/* The code dies with the order: a tenant cannot pay an order wattle expired. */
	if (rq->expires_s > 0) {
		china_time(rq->expires_s, expire);
		json_object_set_new(biz, "time_expire", json_string(expire));
	}
	int rc = -1;
	if (rq->h5) {
		/* A page method: the tenant's browser opens the gateway with the signed parameters. */
		struct srv_buf quit = {0};
		srv_buf_puts(&quit, pay_cfg.public_url);
		srv_buf_puts(&quit, "/t/");
		json_object_set_new(biz, "product_code", json_string("QUICK_WAP_WAY"));
		json_object_set_new(biz, "quit_url", json_string(quit.p));
		free(quit.p);
		struct params ps = {0};
		if (build(&ps, "alipay.trade.wap.pay", biz, true, st) == 0) {
			char *q = form(&ps, true);
			int n = snprintf(out->pay_url, sizeof out->pay_url, "%s?%s", pay_cfg.ali_gateway, q);
			free(q);
			if (n < 0 || (size_t)n >= sizeof out->pay_url) {
				out->pay_url[0] = 0;
				prov_fail(st, PR_ERROR, 0, "too_long", "the wap pay URL needs %d bytes", n);
			} else {
				rc = 0;
			}
		}
		params_free(&ps);
		json_decref(biz);
		return rc;
	}
	json_t *o;
	enum answer a = call("alipay.trade.precreate", biz, true, &o, st);
	json_decref(biz);
	if (a == ANS_OK) {
		const char *qr = sget(o, "qr_code");
		if (!qr || !*qr || strlen(qr) >= sizeof out->pay_url)
			prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "precreate gave no usable qr_code");
		else {
			snprintf(out->pay_url, sizeof out->pay_url, "%s", qr);
			rc = 0;
		}
	}
	json_decref(o);
	return rc;
}

static int order_query(const char *out_trade_no, const char *provider_ref, struct prov_trade *out,
		       struct prov_status *st)
{
	(void)provider_ref;
	if (!out_trade_no || !*out_trade_no)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a query needs out_trade_no");
	json_t *biz = json_pack("{s:s}", "out_trade_no", out_trade_no), *o;
	enum answer a = call("alipay.trade.query", biz, false, &o, st);
	json_decref(biz);
	if (a == ANS_ERROR)
		return -1;
	if (a == ANS_REFUSED) {
		/* A precreated code nobody scanned yet is unknown to Alipay too. */
		if (!refused_with(st, "ACQ.TRADE_NOT_EXIST")) {
			json_decref(o);
			return -1;
		}
		ok_status(st, st->http_status);
		out->state = TRADE_UNKNOWN;
		out->raw = o;
		return 0;
	}
	const char *ts = sget(o, "trade_status");
	if (!ts) {
		json_decref(o);
		return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "the query gave no trade_status");
	}
	if (!strcmp(ts, "WAIT_BUYER_PAY")) {
		out->state = TRADE_OPEN;
	} else if (!strcmp(ts, "TRADE_SUCCESS") || !strcmp(ts, "TRADE_FINISHED")) {
		const char *txn = sget(o, "trade_no"), *amt = sget(o, "total_amount");
		if (!txn || !*txn || strlen(txn) >= sizeof out->txn ||
		    bill_parse_decimal(amt, 2, MAX_AMOUNT, &out->amount_minor)) {
			json_decref(o);
			return prov_fail(st, PR_ERROR, st->http_status, "bad_reply",
					 "a paid trade needs trade_no and total_amount in yuan");
		}
		out->state = TRADE_PAID;
		snprintf(out->txn, sizeof out->txn, "%s", txn);
		snprintf(out->currency, sizeof out->currency, "CNY");
	} else if (!strcmp(ts, "TRADE_CLOSED")) {
		/* Unpaid and expired or closed, or paid and refunded in full. */
		out->state = TRADE_CLOSED;
		const char *txn = sget(o, "trade_no");
		if (txn && strlen(txn) < sizeof out->txn)
			snprintf(out->txn, sizeof out->txn, "%s", txn);
	} else {
		json_decref(o);
		return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "unknown trade_status %.64s", ts);
	}
	out->raw = o;
	return 0;
}

static int order_close(const char *out_trade_no, const char *provider_ref, struct prov_status *st)
{
	if (!out_trade_no || !*out_trade_no)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a close needs out_trade_no");
	json_t *biz = json_pack("{s:s}", "out_trade_no", out_trade_no), *o;
	enum answer a = call("alipay.trade.close", biz, false, &o, st);
	json_decref(biz);
	json_decref(o);
	if (a == ANS_OK)
		return 0;
	if (a == ANS_ERROR)
		return -1;
	/* Alipay does not know a precreated trade nobody scanned: there is nothing to close
	 * (its code dies at time_expire). */
	if (refused_with(st, "ACQ.TRADE_NOT_EXIST")) {
		ok_status(st, st->http_status);
		return 0;
	}
	if (refused_with(st, "ACQ.TRADE_HAS_SUCCESS"))
		return prov_fail(st, PR_REFUSED, st->http_status, "paid", "the trade is paid");
	/* TRADE_STATUS_ERROR: paid, or closed already. The query tells which. */
	if (refused_with(st, "ACQ.TRADE_STATUS_ERROR")) {
		struct prov_trade t = {0};
		struct prov_status qs;
		memset(&qs, 0, sizeof qs);
		int rc = order_query(out_trade_no, provider_ref, &t, &qs);
		json_decref(t.raw);
		if (rc == 0 && t.state == TRADE_PAID)
			return prov_fail(st, PR_REFUSED, st->http_status, "paid", "the trade is paid");
		if (rc == 0 && t.state == TRADE_CLOSED) {
			ok_status(st, st->http_status);
			return 0;
		}
	}
	return -1;
}

/* ---- refunds ---- */

static int refund(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	char amount[32];
	if (cny_only(rq->currency, st))
		return -1;
	if (!rq->out_trade_no || !*rq->out_trade_no || !rq->out_refund_no || !*rq->out_refund_no ||
	    rq->amount_minor <= 0 || yuan(rq->amount_minor, amount))
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a refund needs out_trade_no, out_refund_no and a positive amount");
	json_t *biz = json_pack("{s:s, s:s, s:s}", "out_trade_no", rq->out_trade_no, "refund_amount", amount,
				"out_request_no", rq->out_refund_no);
	if (!biz)
		abort();
	if (rq->txn && *rq->txn)
		json_object_set_new(biz, "trade_no", json_string(rq->txn));
	if (rq->reason && *rq->reason)
		json_object_set_new(biz, "refund_reason", json_string(rq->reason));
	json_t *o;
	enum answer a = call("alipay.trade.refund", biz, false, &o, st);
	json_decref(biz);
	if (a != ANS_OK) {
		json_decref(o);
		return -1;
	}
	/* fund_change Y: this call moved the money. N: nothing moved now (a repeated
	 * out_request_no, or not done yet): the refund query says which. */
	const char *fc = sget(o, "fund_change");
	out->state = fc && !strcmp(fc, "Y") ? REFUND_SUCCEEDED : REFUND_PENDING;
	snprintf(out->refund_ref, sizeof out->refund_ref, "%s", rq->out_refund_no);
	out->raw = o;
	return 0;
}

static int refund_query(const struct prov_refund_req *rq, struct prov_refund *out, struct prov_status *st)
{
	const char *no = rq->refund_ref && *rq->refund_ref ? rq->refund_ref : rq->out_refund_no;
	if (!rq->out_trade_no || !*rq->out_trade_no || !no || !*no)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a refund query needs out_trade_no and out_refund_no");
	json_t *biz = json_pack("{s:s, s:s}", "out_trade_no", rq->out_trade_no, "out_request_no", no);
	if (!biz)
		abort();
	if (rq->txn && *rq->txn)
		json_object_set_new(biz, "trade_no", json_string(rq->txn));
	json_t *o;
	enum answer a = call("alipay.trade.fastpay.refund.query", biz, false, &o, st);
	json_decref(biz);
	if (a != ANS_OK) {
		json_decref(o);
		return -1;
	}
	/* REFUND_SUCCESS: done. Absent, Alipay means "not received, or failed": we cannot tell
	 * which, so it stays pending; refunding again with the same out_request_no is safe
	 * (Alipay refunds once per out_request_no) and settles it. Never FAILED from here: a
	 * FAILED refund gives the money back to the balance, and a late success would then
	 * pay twice. */
	const char *rs = sget(o, "refund_status");
	out->state = rs && !strcmp(rs, "REFUND_SUCCESS") ? REFUND_SUCCEEDED : REFUND_PENDING;
	snprintf(out->refund_ref, sizeof out->refund_ref, "%s", no);
	out->raw = o;
	return 0;
}

/* ---- bills ---- */

/* GBK text into new UTF-8 (caller frees), NULL when it does not convert. */
static char *gbk_to_utf8(const char *s, size_t n, size_t *out_n)
{
	size_t cap = 2 * n + 16; /* a GBK character is 1-2 bytes; its UTF-8 at most 3 */
	char *out = malloc(cap);
	if (!out)
		abort();
	UErrorCode e = U_ZERO_ERROR;
	int32_t len = ucnv_convert("UTF-8", "GBK", out, (int32_t)cap, s, (int32_t)n, &e);
	if (U_FAILURE(e) || (size_t)len >= cap) {
		free(out);
		return NULL;
	}
	out[len] = 0;
	*out_n = (size_t)len;
	return out;
}

/* Split one CSV line into at most max fields (in place; "..." quoting honoured), each
 * trimmed of spaces, tabs and the leading '`' Alipay adds so spreadsheets keep digits. */
static size_t csv_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		char *start = p, *w = p;
		bool quoted = false;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			quoted = true;
			p++;
		}
		start = w = p;
		for (; *p; p++) {
			if (quoted && *p == '"') {
				if (p[1] == '"') {
					*w++ = '"';
					p++;
					continue;
				}
				quoted = false;
				continue;
			}
			if (!quoted && *p == ',')
				break;
			*w++ = *p;
		}
		char end = *p;
		*w = 0;
		while (*start == ' ' || *start == '\t' || *start == '`')
			start++;
		for (size_t l = strlen(start); l && strchr(" \t\r", start[l - 1]); l--)
			start[l - 1] = 0;
		f[n++] = start;
		if (!end)
			break;
		p++;
	}
	return n;
}

enum col { C_TXN, C_OUT, C_KIND, C_AMOUNT, C_NET, C_DONE, C_CREATED, C_REFUND, C__COUNT };
static const char *const col_names[C__COUNT] = {
	"支付宝交易号", "商户订单号",     "业务类型", "订单金额（元）",
	"商家实收（元）", "完成时间", "创建时间", "退款批次号/请求号",
};

/* An amount in yuan, maybe negative (refund lines are), as positive fen. */
static int abs_yuan(const char *s, int64_t *out)
{
	if (s && *s == '-')
		s++;
	return bill_parse_decimal(s, 2, MAX_AMOUNT, out);
}

struct lines {
	struct prov_bill_line *v;
	size_t n, cap;
};

/* Parse the detail CSV (UTF-8, in place): "#" comment lines before the header, the header,
 * the lines, "#" summary lines after. Lines of another kind than 交易/退款 are skipped.
 * 0, or -1 when this is not the detail file (no such header) or a line is malformed. */
static int parse_detail(char *text, struct lines *out, struct prov_status *st)
{
	int cols[C__COUNT];
	bool header = false;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (line[0] == '#' || !line[strspn(line, " \t\r")])
			continue;
		char *f[64];
		size_t nf = csv_fields(line, f, 64);
		if (!header) {
			for (int c = 0; c < C__COUNT; c++) {
				cols[c] = -1;
				for (size_t i = 0; i < nf; i++)
					if (!strcmp(f[i], col_names[c]))
						cols[c] = (int)i;
			}
			if (cols[C_TXN] < 0 || cols[C_OUT] < 0 || cols[C_KIND] < 0 || cols[C_AMOUNT] < 0)
				return -1; /* the summary file, or something else */
			header = true;
			continue;
		}
		const char *v[C__COUNT];
		for (int c = 0; c < C__COUNT; c++)
			v[c] = cols[c] >= 0 && (size_t)cols[c] < nf ? f[cols[c]] : "";
		bool is_refund = !strcmp(v[C_KIND], "退款");
		if (!is_refund && strcmp(v[C_KIND], "交易"))
			continue;
		struct prov_bill_line l = {.refund = is_refund};
		const char *amount = *v[C_AMOUNT] ? v[C_AMOUNT] : v[C_NET];
		const char *at = *v[C_DONE] ? v[C_DONE] : v[C_CREATED];
		if (abs_yuan(amount, &l.amount_minor) || (l.at_s = china_parse(at)) < 0 || !*v[C_TXN] ||
		    strlen(v[C_TXN]) >= sizeof l.txn || strlen(v[C_OUT]) >= sizeof l.out_trade_no ||
		    strlen(v[C_REFUND]) >= sizeof l.refund_ref) {
			prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "a bill line of %.64s is malformed",
				  v[C_TXN]);
			return -2;
		}
		snprintf(l.txn, sizeof l.txn, "%s", v[C_TXN]);
		snprintf(l.out_trade_no, sizeof l.out_trade_no, "%s", v[C_OUT]);
		if (is_refund)
			snprintf(l.refund_ref, sizeof l.refund_ref, "%s", v[C_REFUND]);
		snprintf(l.currency, sizeof l.currency, "CNY");
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 32;
			if (!(out->v = realloc(out->v, out->cap * sizeof *out->v)))
				abort();
		}
		out->v[out->n++] = l;
	}
	return header ? 0 : -1;
}

/* The ZIP's detail file, found by its header (the names are GBK, and say 业务明细 for both
 * the detail and its summary), parsed into out. */
static int read_zip(const char *body, size_t len, struct lines *out, struct prov_status *st)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(body, len, 0, &ze);
	zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (!z) {
		if (src)
			zip_source_free(src);
		zip_error_fini(&ze);
		return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "the bill is not a ZIP");
	}
	zip_error_fini(&ze);
	int rc = 1;
	zip_int64_t n = zip_get_num_entries(z, 0);
	for (zip_int64_t i = 0; i < n && rc == 1; i++) {
		zip_stat_t zs;
		if (zip_stat_index(z, (zip_uint64_t)i, 0, &zs) || !(zs.valid & ZIP_STAT_SIZE) || zs.size > MAX_BILL_FILE)
			continue;
		zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
		if (!zf)
			continue;
		char *raw = malloc(zs.size + 1);
		if (!raw)
			abort();
		zip_int64_t got = zip_fread(zf, raw, zs.size);
		zip_fclose(zf);
		size_t un = 0;
		char *text = got == (zip_int64_t)zs.size ? gbk_to_utf8(raw, zs.size, &un) : NULL;
		free(raw);
		if (!text)
			continue;
		int p = parse_detail(text, out, st);
		free(text);
		if (p == 0)
			rc = 0;
		else if (p == -2)
			rc = -1;
	}
	zip_close(z);
	if (rc == 1)
		return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "the bill ZIP holds no detail CSV");
	return rc;
}

static int bill(const char *date, int64_t from_s, int64_t to_s, struct prov_bill_line **lines, size_t *n,
		struct prov_status *st)
{
	(void)from_s; /* Alipay's bill is of a China day: date says which */
	(void)to_s;
	if (!date || strlen(date) != 10)
		return prov_fail(st, PR_ERROR, 0, "bad_request", "a bill needs a date YYYY-MM-DD");
	json_t *biz = json_pack("{s:s, s:s}", "bill_type", "trade", "bill_date", date), *o;
	enum answer a = call("alipay.data.dataservice.bill.downloadurl.query", biz, false, &o, st);
	json_decref(biz);
	if (a == ANS_REFUSED && refused_with(st, "isp.bill_not_exist")) {
		/* A day without a trade has no bill. */
		json_decref(o);
		ok_status(st, st->http_status);
		return 0;
	}
	if (a != ANS_OK) {
		json_decref(o);
		return -1;
	}
	const char *url = sget(o, "bill_download_url");
	if (!url || strncmp(url, "http", 4)) {
		json_decref(o);
		return prov_fail(st, PR_ERROR, st->http_status, "bad_reply", "no bill_download_url");
	}
	struct prov_http rq = {"GET", url, NULL, NULL, 0};
	struct prov_http_reply r;
	int rc = prov_http(&rq, &r, st);
	json_decref(o);
	if (rc)
		return -1;
	if (r.status != 200) {
		prov_http_reply_free(&r);
		return prov_fail(st, PR_ERROR, r.status, "bad_reply", "the bill download answered HTTP %ld", r.status);
	}
	struct lines l = {0};
	rc = read_zip(r.body, r.body_len, &l, st);
	prov_http_reply_free(&r);
	if (rc) {
		free(l.v);
		return -1;
	}
	*lines = l.v;
	*n = l.n;
	return 0;
}

const struct prov_ops prov_alipay_ops = {order_create, order_query, order_close, refund, refund_query, bill};
