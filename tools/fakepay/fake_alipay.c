/* fake_alipay.c: the Alipay open API fake's paths (fakepay.h). /gateway.do takes the common
 * parameters and biz_content from the query string and the form body, as Alipay does, and
 * checks them as Alipay does: app_id the app's, every required common parameter present,
 * charset utf-8, format JSON, sign_type RSA2, version 1.0, the timestamp near now, and sign
 * RSA2 over the other non-empty parameters sorted by key with the application's public key;
 * then biz_content as JSON with the method's fields. Refusals are Alipay's: code 40001/40002
 * with an isv.* sub_code for a bad request, 40004 with ACQ.* for a business refusal. Every
 * answer is {"<method>_response":{...},"sign":"..."} with sign over that object's exact text.
 *
 * Like Alipay, a precreated (or wap) trade is unknown until the buyer scans the code
 * (fake_alipay_scan) or pays (fakepay_pay): until then query and close say
 * ACQ.TRADE_NOT_EXIST. A trade refunded in full queries as TRADE_CLOSED.
 *
 * alipay.trade.wap.pay is a page: a GET of the signed URL answers HTML naming the order.
 * The bill download URL (/downloadBillFile.resource) carries a token the fake signed, good
 * for 30 seconds; it answers a ZIP of two GBK CSV files, the detail and its summary. */
#include "fakepay.h"

#include "core/money.h"
#include "core/paysig.h"

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unicode/ucnv.h>
#include <zip.h>

#define CHINA_OFFSET_S (8 * 3600)
#define TS_TOLERANCE_S 600 /* how far the request's timestamp may be from now */
#define BILL_URL_TTL_S 30  /* Alipay's bill_download_url lives 30 seconds */
#define MAXP 32

/* ---- parameters ---- */

struct aparams {
	size_t n;
	char *k[MAXP], *v[MAXP];
	bool dup, full;
};

static void ap_add(struct aparams *p, const char *k, const char *v)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->k[i], k))
			p->dup = true;
	if (p->n == MAXP) {
		p->full = true;
		return;
	}
	if (!(p->k[p->n] = strdup(k)) || !(p->v[p->n] = strdup(v ? v : "")))
		abort();
	p->n++;
}

static const char *ap_get(const struct aparams *p, const char *k)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->k[i], k))
			return p->v[i];
	return NULL;
}

static void ap_free(struct aparams *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->k[i]);
		free(p->v[i]);
	}
	p->n = 0;
}

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	ap_add(cls, key, value);
	return MHD_YES;
}

static int cmp_idx(const void *a, const void *b, void *ud)
{
	const struct aparams *p = ud;
	return strcmp(p->k[*(const size_t *)a], p->k[*(const size_t *)b]);
}

/* Alipay's string to sign of a request: all parameters but sign whose value is not empty,
 * sorted by key, k=v joined by '&'. New. */
static char *content(const struct aparams *p)
{
	size_t idx[MAXP], k = 0, total = 1;
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i], "sign") && *p->v[i]) {
			idx[k++] = i;
			total += strlen(p->k[i]) + strlen(p->v[i]) + 2;
		}
	qsort_r(idx, k, sizeof *idx, cmp_idx, (void *)p);
	char *out = malloc(total), *o = out;
	if (!out)
		abort();
	*o = 0;
	for (size_t i = 0; i < k; i++)
		o += sprintf(o, "%s%s=%s", i ? "&" : "", p->k[idx[i]], p->v[idx[i]]);
	return out;
}

/* ---- answers ---- */

/* The key bad_answer_sig signs with: not Alipay's. */
static EVP_PKEY *wrong_key;
static pthread_once_t wrong_once = PTHREAD_ONCE_INIT;
static void make_wrong_key(void)
{
	if (!(wrong_key = EVP_RSA_gen(2048)))
		abort();
}

/* The answer {"<name>": o, "sign": ...}: o is written once, with its slashes escaped as
 * Alipay's JSON writer does, and signed as written. Steals o. */
static void answer(struct fakepay *f, struct peer_reply *out, const char *name, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ESCAPE_SLASH);
	json_decref(o);
	if (!text)
		abort();
	EVP_PKEY *key = f->sign_key;
	if (f->bad_answer_sig) {
		pthread_once(&wrong_once, make_wrong_key);
		key = wrong_key;
	}
	char *sig = bill_rsa_sha256_sign(key, text, strlen(text));
	if (!sig)
		abort();
	size_t n = strlen(name) + strlen(text) + strlen(sig) + 32;
	if (!(out->body = malloc(n)))
		abort();
	snprintf(out->body, n, "{\"%s\":%s,\"sign\":\"%s\"}", name, text, sig);
	free(text);
	free(sig);
	out->status = 200;
	out->content_type = "text/html;charset=utf-8"; /* what Alipay's gateway says, JSON or not */
}

static json_t *success(void) { return json_pack("{s:s, s:s}", "code", "10000", "msg", "Success"); }

/* A refusal in Alipay's shape; check failures (isv.*) are counted as refused. */
static void refuse(struct fakepay *f, struct peer_reply *out, const char *name, const char *code,
		   const char *sub_code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void refuse(struct fakepay *f, struct peer_reply *out, const char *name, const char *code,
		   const char *sub_code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	static const struct {
		const char *code, *msg;
	} gw[] = {{"40001", "Missing Required Arguments"}, {"40002", "Invalid Arguments"},
		  {"40004", "Business Failed"},            {"40006", "Insufficient Permissions"},
		  {"20000", "Service Currently Unavailable"}};
	const char *gmsg = "Business Failed";
	for (size_t i = 0; i < sizeof gw / sizeof *gw; i++)
		if (!strcmp(gw[i].code, code))
			gmsg = gw[i].msg;
	if (strcmp(code, "40004"))
		fake_refuse(f, "%s %s: %s", name, sub_code, msg);
	answer(f, out, name,
	       json_pack("{s:s, s:s, s:s, s:s}", "code", code, "msg", gmsg, "sub_code", sub_code, "sub_msg", msg));
}

/* ---- helpers ---- */

static void china_time(int64_t t, char out[20])
{
	time_t c = (time_t)(t + CHINA_OFFSET_S);
	struct tm tm;
	gmtime_r(&c, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static int64_t china_parse(const char *s)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y-%m-%d %H:%M:%S", &tm) : NULL;
	if (!end || *end || strlen(s) != 19)
		return -1;
	return (int64_t)timegm(&tm) - CHINA_OFFSET_S;
}

static void yuan(int64_t fen, char out[32])
{
	snprintf(out, 32, "%s%lld.%02lld", fen < 0 ? "-" : "", (long long)(llabs(fen) / 100), (long long)(llabs(fen) % 100));
}

/* A positive amount in yuan with at most 2 decimals, as Alipay takes it. */
static int amount_ok(const char *s, int64_t *fen)
{
	return s && bill_parse_decimal(s, 2, INT64_C(10000000000), fen) == 0 && *fen > 0 ? 0 : -1;
}

static const char *bget(json_t *biz, const char *k) { return json_string_value(json_object_get(biz, k)); }

/* The trade as Alipay knows it: a precreated one only once scanned (it has a trade_no). */
static struct fake_trade *known(struct fakepay *f, json_t *biz)
{
	struct fake_trade *t = fake_trade_find(f, bget(biz, "out_trade_no"), NULL);
	const char *tn = bget(biz, "trade_no");
	if (!t && tn && *tn)
		for (size_t i = 0; i < f->ntrades && !t; i++)
			if (!strcmp(f->trades[i].txn, tn))
				t = &f->trades[i];
	if (t && tn && *tn && strcmp(t->txn, tn))
		return NULL;
	if (t && t->state == FT_OPEN && (int64_t)time(NULL) >= t->expires_s)
		t->state = FT_CLOSED; /* the code died with time_expire */
	return t && t->txn[0] ? t : NULL;
}

static const char *trade_status(const struct fake_trade *t)
{
	if (t->state == FT_OPEN)
		return "WAIT_BUYER_PAY";
	if (t->state == FT_PAID)
		return t->refunded >= t->amount ? "TRADE_CLOSED" : "TRADE_SUCCESS";
	return "TRADE_CLOSED";
}

/* ---- the methods (f->mu held) ---- */

/* precreate and wap.pay: the trade is registered (not yet known to query: nobody scanned).
 * 0, or -1 with the refusal answered. */
static int create(struct fakepay *f, const struct aparams *p, json_t *biz, const char *name, const char *mode,
		  struct peer_reply *out, struct fake_trade **made)
{
	const char *no = bget(biz, "out_trade_no"), *amt = bget(biz, "total_amount"), *subj = bget(biz, "subject");
	const char *te = bget(biz, "time_expire");
	int64_t fen = 0, expires = (int64_t)time(NULL) + 2 * 3600; /* Alipay's default: 2 hours */
	if (!no || !*no || strlen(no) > 64 || !subj || !*subj || strlen(subj) >= sizeof(*made)->description) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "out_trade_no and subject are required");
		return -1;
	}
	if (amount_ok(amt, &fen)) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "total_amount %s is not a positive amount in yuan",
		       amt ? amt : "(none)");
		return -1;
	}
	if (te && (expires = china_parse(te)) < 0) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "time_expire %s is not yyyy-MM-dd HH:mm:ss", te);
		return -1;
	}
	if (!strcmp(mode, "wap")) {
		const char *pc = bget(biz, "product_code");
		if (!pc || strcmp(pc, "QUICK_WAP_WAY")) {
			refuse(f, out, name, "40002", "isv.invalid-parameter", "product_code must be QUICK_WAP_WAY");
			return -1;
		}
	}
	f->calls[FC_CREATE]++;
	if (f->refuse_create[0]) {
		refuse(f, out, name, "40004", f->refuse_create, "refused for the test");
		return -1;
	}
	struct fake_trade *t = fake_trade_find(f, no, NULL);
	if (t) {
		if (t->state == FT_PAID) {
			refuse(f, out, name, "40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付");
			return -1;
		}
		if (t->state == FT_CLOSED) {
			refuse(f, out, name, "40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭");
			return -1;
		}
		if (t->amount != fen) {
			refuse(f, out, name, "40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改");
			return -1;
		}
		*made = t; /* the same order again: the same code */
		return 0;
	}
	t = fake_trade_add(f);
	snprintf(t->out_trade_no, sizeof t->out_trade_no, "%s", no);
	snprintf(t->currency, sizeof t->currency, "CNY");
	snprintf(t->notify_url, sizeof t->notify_url, "%s", ap_get(p, "notify_url") ? ap_get(p, "notify_url") : "");
	snprintf(t->description, sizeof t->description, "%s", subj);
	snprintf(t->mode, sizeof t->mode, "%s", mode);
	t->amount = fen;
	t->created_s = (int64_t)time(NULL);
	t->expires_s = expires;
	t->state = FT_OPEN;
	*made = t;
	return 0;
}

static void precreate(struct fakepay *f, const struct aparams *p, json_t *biz, const char *name,
		      struct peer_reply *out)
{
	struct fake_trade *t;
	if (create(f, p, biz, name, "precreate", out, &t))
		return;
	json_t *o = success();
	char qr[128];
	snprintf(qr, sizeof qr, "https://qr.alipay.com/bax%s", t->out_trade_no);
	json_object_set_new(o, "out_trade_no", json_string(t->out_trade_no));
	json_object_set_new(o, "qr_code", json_string(qr));
	answer(f, out, name, o);
}

static void query(struct fakepay *f, json_t *biz, const char *name, struct peer_reply *out)
{
	if (!bget(biz, "out_trade_no") && !bget(biz, "trade_no")) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "out_trade_no or trade_no is required");
		return;
	}
	f->calls[FC_QUERY]++;
	struct fake_trade *t = known(f, biz);
	if (!t) {
		refuse(f, out, name, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在");
		return;
	}
	char amt[32], at[20];
	yuan(t->amount, amt);
	json_t *o = success();
	json_object_set_new(o, "trade_no", json_string(t->txn));
	json_object_set_new(o, "out_trade_no", json_string(t->out_trade_no));
	json_object_set_new(o, "buyer_logon_id", json_string("159****5620"));
	json_object_set_new(o, "trade_status", json_string(trade_status(t)));
	json_object_set_new(o, "total_amount", json_string(amt));
	if (t->state == FT_PAID) {
		china_time(t->paid_s, at);
		json_object_set_new(o, "buyer_pay_amount", json_string(amt));
		json_object_set_new(o, "send_pay_date", json_string(at));
	}
	answer(f, out, name, o);
}

static void close_trade(struct fakepay *f, json_t *biz, const char *name, struct peer_reply *out)
{
	if (!bget(biz, "out_trade_no") && !bget(biz, "trade_no")) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "out_trade_no or trade_no is required");
		return;
	}
	f->calls[FC_CLOSE]++;
	struct fake_trade *t = known(f, biz);
	if (!t) {
		refuse(f, out, name, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在");
		return;
	}
	if (t->state != FT_OPEN) {
		refuse(f, out, name, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
		return;
	}
	t->state = FT_CLOSED;
	json_t *o = success();
	json_object_set_new(o, "trade_no", json_string(t->txn));
	json_object_set_new(o, "out_trade_no", json_string(t->out_trade_no));
	answer(f, out, name, o);
}

static void refund(struct fakepay *f, json_t *biz, const char *name, struct peer_reply *out)
{
	const char *amt = bget(biz, "refund_amount"), *no = bget(biz, "out_request_no");
	const char *reason = bget(biz, "refund_reason");
	int64_t fen = 0;
	if (!bget(biz, "out_trade_no") && !bget(biz, "trade_no")) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "out_trade_no or trade_no is required");
		return;
	}
	if (amount_ok(amt, &fen)) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "refund_amount %s is not a positive amount",
		       amt ? amt : "(none)");
		return;
	}
	if (no && strlen(no) >= 64) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "out_request_no is longer than 64");
		return;
	}
	f->calls[FC_REFUND]++;
	struct fake_trade *t = known(f, biz);
	if (!t) {
		refuse(f, out, name, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在");
		return;
	}
	if (t->state != FT_PAID) {
		refuse(f, out, name, "40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
		return;
	}
	if (!no || !*no)
		no = t->out_trade_no; /* Alipay: the refund of the whole trade */
	struct fake_refund *r = fake_refund_find(f, no);
	bool changed = false;
	if (r) {
		/* The same out_request_no again: refunded once; the answer says no money moved now. */
		if (strcmp(r->txn, t->txn) || r->amount != fen) {
			refuse(f, out, name, "40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致");
			return;
		}
	} else {
		if (t->refunded + fen > t->amount) {
			refuse(f, out, name, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
			return;
		}
		r = fake_refund_add(f);
		snprintf(r->out_refund_no, sizeof r->out_refund_no, "%s", no);
		snprintf(r->refund_id, sizeof r->refund_id, "%s", no);
		snprintf(r->txn, sizeof r->txn, "%s", t->txn);
		snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
		r->amount = fen;
		r->created_s = (int64_t)time(NULL);
		r->state = f->refund_pending ? FR_PENDING : FR_SUCCEEDED;
		t->refunded += fen;
		changed = !f->refund_pending;
	}
	char total[32], at[20];
	yuan(t->refunded, total);
	china_time(r->created_s, at);
	json_t *o = success();
	json_object_set_new(o, "trade_no", json_string(t->txn));
	json_object_set_new(o, "out_trade_no", json_string(t->out_trade_no));
	json_object_set_new(o, "buyer_logon_id", json_string("159****5620"));
	json_object_set_new(o, "fund_change", json_string(changed ? "Y" : "N"));
	json_object_set_new(o, "refund_fee", json_string(total));
	json_object_set_new(o, "gmt_refund_pay", json_string(at));
	answer(f, out, name, o);
}

static void refund_query(struct fakepay *f, json_t *biz, const char *name, struct peer_reply *out)
{
	const char *no = bget(biz, "out_request_no");
	if ((!bget(biz, "out_trade_no") && !bget(biz, "trade_no")) || !no || !*no) {
		refuse(f, out, name, "40002", "isv.invalid-parameter",
		       "out_request_no, and out_trade_no or trade_no, are required");
		return;
	}
	f->calls[FC_REFUND_QUERY]++;
	struct fake_trade *t = known(f, biz);
	if (!t) {
		refuse(f, out, name, "40004", "ACQ.TRADE_NOT_EXIST", "交易不存在");
		return;
	}
	struct fake_refund *r = fake_refund_find(f, no);
	json_t *o = success();
	/* Alipay answers only code and msg for a refund it did not make (or not yet). */
	if (r && !strcmp(r->txn, t->txn) && r->state == FR_SUCCEEDED) {
		char total[32], amt[32];
		yuan(t->amount, total);
		yuan(r->amount, amt);
		json_object_set_new(o, "trade_no", json_string(t->txn));
		json_object_set_new(o, "out_trade_no", json_string(t->out_trade_no));
		json_object_set_new(o, "out_request_no", json_string(r->out_refund_no));
		json_object_set_new(o, "total_amount", json_string(total));
		json_object_set_new(o, "refund_amount", json_string(amt));
		json_object_set_new(o, "refund_status", json_string("REFUND_SUCCESS"));
	}
	answer(f, out, name, o);
}

/* ---- the bill ---- */

/* UTF-8 into new GBK bytes (*n). */
static char *to_gbk(const char *s, size_t *n)
{
	size_t len = strlen(s), cap = len + 16;
	char *out = malloc(cap);
	if (!out)
		abort();
	UErrorCode e = U_ZERO_ERROR;
	int32_t got = ucnv_convert("GBK", "UTF-8", out, (int32_t)cap, s, (int32_t)len, &e);
	if (U_FAILURE(e))
		abort();
	*n = (size_t)got;
	return out;
}

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int need = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (need < 0)
			abort();
		if (b->p && b->n + (size_t)need < b->cap) {
			b->n += (size_t)need;
			return;
		}
		b->cap = (b->cap + (size_t)need + 1) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			abort();
	}
}

/* The day (China time) of unix seconds t as YYYY-MM-DD. */
static void china_day(int64_t t, char out[11])
{
	char ts[20];
	china_time(t, ts);
	snprintf(out, 11, "%.10s", ts);
}

static const char detail_header[] =
	"支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
	"订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
	"券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n";

/* One detail line; amount negative for a refund. Ids end with a tab, as Alipay's do. */
static void detail_line(struct sbuf *b, const char *txn, const char *out_trade_no, bool refund, const char *subject,
			int64_t created, int64_t done, int64_t fen, const char *request_no)
{
	char c[20], d[20], a[32];
	china_time(created, c);
	china_time(done, d);
	yuan(fen, a);
	char subj[256];
	size_t j = 0;
	for (const char *s = subject; *s && j + 1 < sizeof subj; s++)
		if (*s != ',' && *s != '"' && *s != '\n')
			subj[j++] = *s;
	subj[j] = 0;
	sb_printf(b, "%s\t,%s\t,%s,%s,%s,%s,,,,,159****5620,%s,%s,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,%s%s,0.00,0.00,\n",
		  txn, out_trade_no, refund ? "退款" : "交易", subj, c, d, a, a, request_no, *request_no ? "\t" : "");
}

/* The detail and summary CSV files of date (UTF-8); how many lines. */
static size_t bill_files(struct fakepay *f, const char *date, struct sbuf *detail, struct sbuf *summary)
{
	size_t pays = 0, refunds = 0;
	int64_t pay_sum = 0, refund_sum = 0;
	char start[11];
	snprintf(start, sizeof start, "%s", date);
	sb_printf(detail, "#支付宝业务明细查询\n#账号：[20880000000000000156]\n#起始日期：[%.4s年%.2s月%.2s日 00:00:00]\n"
			  "#-----------------------------------------业务明细列表----------------------------------------\n",
		  date, date + 5, date + 8);
	sb_printf(detail, "%s", detail_header);
	char day[11];
	for (size_t i = 0; i < f->ntrades; i++) {
		struct fake_trade *t = &f->trades[i];
		if (t->state != FT_PAID || t->bill_hide)
			continue;
		china_day(t->paid_s, day);
		if (strcmp(day, date))
			continue;
		int64_t amt = t->bill_amount >= 0 ? t->bill_amount : t->amount;
		detail_line(detail, t->txn, t->out_trade_no, false, t->description, t->created_s, t->paid_s, amt, "");
		pays++;
		pay_sum += amt;
	}
	for (size_t i = 0; i < f->nrefunds; i++) {
		struct fake_refund *r = &f->refunds[i];
		if (r->state != FR_SUCCEEDED)
			continue;
		china_day(r->created_s, day);
		if (strcmp(day, date))
			continue;
		struct fake_trade *t = NULL;
		for (size_t k = 0; k < f->ntrades && !t; k++)
			if (!strcmp(f->trades[k].txn, r->txn))
				t = &f->trades[k];
		if (!t || t->bill_hide)
			continue;
		detail_line(detail, t->txn, t->out_trade_no, true, t->description, r->created_s, r->created_s, -r->amount,
			    r->out_refund_no);
		refunds++;
		refund_sum += r->amount;
	}
	for (size_t i = 0; i < f->nextras; i++) {
		struct fake_bill_extra *x = &f->extras[i];
		if (strcmp(x->date, date))
			continue;
		detail_line(detail, x->txn, x->out_trade_no, false, "extra", x->at_s, x->at_s, x->amount, "");
		pays++;
		pay_sum += x->amount;
	}
	char ps[32], rs[32], net[32];
	yuan(pay_sum, ps);
	yuan(-refund_sum, rs);
	yuan(pay_sum - refund_sum, net);
	sb_printf(detail, "#-----------------------------------------业务明细列表结束------------------------------------\n"
			  "#交易合计：%zu笔，商家实收共%s元，商家优惠共0.00元\n#退款合计：%zu笔，商家实收退款共%s元，商家优惠退款共0.00元\n"
			  "#导出时间：[%.4s年%.2s月%.2s日 09:00:00]\n",
		  pays, ps, refunds, rs, date, date + 5, date + 8);
	sb_printf(summary, "#支付宝业务汇总查询\n#账号：[20880000000000000156]\n#起始日期：[%.4s年%.2s月%.2s日 00:00:00]\n"
			   "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
			   "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n合计,,%zu,%zu,%s,%s,0.00,0.00,0.00,0.00,0.00,%s\n"
			   "#导出时间：[%.4s年%.2s月%.2s日 09:00:00]\n",
		  date, date + 5, date + 8, pays, refunds, net, net, net, date, date + 5, date + 8);
	return pays + refunds;
}

/* A ZIP (new bytes, *n) of the GBK files, summary first, named as Alipay names them (GBK). */
static char *bill_zip(struct fakepay *f, const char *date, size_t *n)
{
	struct sbuf detail = {0}, summary = {0};
	bill_files(f, date, &detail, &summary);
	char ymd[9];
	snprintf(ymd, sizeof ymd, "%.4s%.2s%.2s", date, date + 5, date + 8);
	char dn[128], sn[128];
	snprintf(dn, sizeof dn, "20880000000000000156_%s_业务明细.csv", ymd);
	snprintf(sn, sizeof sn, "20880000000000000156_%s_业务明细(汇总).csv", ymd);
	size_t dl, sl, dnl, snl;
	char *dg = to_gbk(detail.p, &dl), *sg = to_gbk(summary.p, &sl);
	char *dng = to_gbk(dn, &dnl), *sng = to_gbk(sn, &snl);
	free(detail.p);
	free(summary.p);
	dng = realloc(dng, dnl + 1);
	sng = realloc(sng, snl + 1);
	if (!dng || !sng)
		abort();
	dng[dnl] = sng[snl] = 0;
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
	if (!src)
		abort();
	zip_source_keep(src);
	zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	if (!z)
		abort();
	zip_source_t *s1 = zip_source_buffer(z, sg, sl, 0), *s2 = zip_source_buffer(z, dg, dl, 0);
	if (!s1 || !s2 || zip_file_add(z, sng, s1, ZIP_FL_ENC_RAW) < 0 || zip_file_add(z, dng, s2, ZIP_FL_ENC_RAW) < 0 ||
	    zip_close(z))
		abort();
	free(dg);
	free(sg);
	free(dng);
	free(sng);
	if (zip_source_open(src) || zip_source_seek(src, 0, SEEK_END))
		abort();
	zip_int64_t size = zip_source_tell(src);
	if (size < 0 || zip_source_seek(src, 0, SEEK_SET))
		abort();
	char *buf = malloc((size_t)size + 1);
	if (!buf || zip_source_read(src, buf, (zip_uint64_t)size) != size)
		abort();
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&ze);
	*n = (size_t)size;
	return buf;
}

static bool valid_date(const char *d)
{
	struct tm tm = {0};
	const char *end = d ? strptime(d, "%Y-%m-%d", &tm) : NULL;
	return end && !*end && strlen(d) == 10;
}

static void bill_url(struct fakepay *f, json_t *biz, const char *name, struct peer_reply *out)
{
	const char *type = bget(biz, "bill_type"), *date = bget(biz, "bill_date");
	if (!type || (strcmp(type, "trade") && strcmp(type, "signcustomer")) || !valid_date(date)) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "bill_type trade and bill_date yyyy-MM-dd are required");
		return;
	}
	if (strcmp(type, "trade")) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "the fake has only the trade bill");
		return;
	}
	f->calls[FC_BILL]++;
	struct sbuf d = {0}, s = {0};
	size_t lines = bill_files(f, date, &d, &s);
	free(d.p);
	free(s.p);
	if (!lines) {
		refuse(f, out, name, "40004", "isp.bill_not_exist", "账单不存在");
		return;
	}
	/* The token is the fake's signature over what the URL grants, so it needs no state. */
	char grant[64];
	long long exp = (long long)time(NULL) + BILL_URL_TTL_S;
	snprintf(grant, sizeof grant, "trade|%s|%lld", date, exp);
	char *tok = bill_rsa_sha256_sign(f->sign_key, grant, strlen(grant));
	if (!tok)
		abort();
	struct sbuf u = {0};
	sb_printf(&u, "http://127.0.0.1:%d/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=%s"
		      "&expires=%lld&token=",
		  f->port, date, exp);
	for (const char *p = tok; *p; p++)
		sb_printf(&u, *p == '+' ? "%%2B" : *p == '/' ? "%%2F" : *p == '=' ? "%%3D" : "%c", *p);
	free(tok);
	json_t *o = success();
	json_object_set_new(o, "bill_download_url", json_string(u.p));
	free(u.p);
	answer(f, out, name, o);
}

static void bill_download(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	const char *date = peer_query(r, "bizDates"), *exp = peer_query(r, "expires"), *tok = peer_query(r, "token");
	char grant[64];
	snprintf(grant, sizeof grant, "trade|%s|%s", date ? date : "", exp ? exp : "");
	if (!date || !exp || !tok || !bill_rsa_sha256_verify(f->sign_key, grant, strlen(grant), tok)) {
		fake_refuse(f, "bill download: the token is not ours");
		out->status = 403;
		out->content_type = "text/plain;charset=utf-8";
		out->body = strdup("token invalid");
		return;
	}
	if ((long long)time(NULL) > atoll(exp)) {
		fake_refuse(f, "bill download: the URL expired");
		out->status = 200;
		out->content_type = "text/html;charset=utf-8";
		out->body = strdup("下载超时，请重新下载");
		return;
	}
	size_t n = 0;
	out->body = bill_zip(f, date, &n);
	out->body_len = n;
	out->status = 200;
	out->content_type = "application/oct-stream";
}

/* ---- the gateway ---- */

/* Check the common parameters; on a failure answer the refusal and return -1. */
static int check_common(struct fakepay *f, const struct aparams *p, const char *name, struct peer_reply *out)
{
	static const char *const need[][2] = {
		{"app_id", "isv.missing-app-id"},       {"charset", "isv.missing-charset"},
		{"sign_type", "isv.missing-signature-type"}, {"sign", "isv.missing-signature"},
		{"timestamp", "isv.missing-timestamp"}, {"version", "isv.missing-version"},
	};
	if (p->dup || p->full) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "a parameter is given twice, or too many are");
		return -1;
	}
	for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
		const char *v = ap_get(p, need[i][0]);
		if (!v || !*v) {
			refuse(f, out, name, "40001", need[i][1], "%s is missing", need[i][0]);
			return -1;
		}
	}
	if (strcmp(ap_get(p, "app_id"), f->appid)) {
		refuse(f, out, name, "40002", "isv.invalid-app-id", "app_id %s is not an app here", ap_get(p, "app_id"));
		return -1;
	}
	if (strcasecmp(ap_get(p, "charset"), "utf-8")) {
		refuse(f, out, name, "40002", "isv.invalid-charset", "charset %s: the fake takes utf-8", ap_get(p, "charset"));
		return -1;
	}
	const char *fmt = ap_get(p, "format");
	if (fmt && *fmt && strcasecmp(fmt, "JSON")) {
		refuse(f, out, name, "40002", "isv.invalid-format", "format must be JSON");
		return -1;
	}
	if (strcmp(ap_get(p, "sign_type"), "RSA2")) {
		refuse(f, out, name, "40002", "isv.invalid-signature-type", "sign_type %s: the app signs RSA2",
		       ap_get(p, "sign_type"));
		return -1;
	}
	if (strcmp(ap_get(p, "version"), "1.0")) {
		refuse(f, out, name, "40002", "isv.invalid-parameter", "version must be 1.0");
		return -1;
	}
	int64_t ts = china_parse(ap_get(p, "timestamp")), now = (int64_t)time(NULL);
	if (ts < 0 || ts < now - TS_TOLERANCE_S || ts > now + TS_TOLERANCE_S) {
		refuse(f, out, name, "40002", "isv.invalid-timestamp", "timestamp %s is malformed or not now (China time)",
		       ap_get(p, "timestamp"));
		return -1;
	}
	char *c = content(p);
	bool ok = bill_rsa_sha256_verify(f->client_pub, c, strlen(c), ap_get(p, "sign"));
	free(c);
	if (!ok) {
		refuse(f, out, name, "40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配");
		return -1;
	}
	return 0;
}

static void page(struct peer_reply *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void page(struct peer_reply *out, const char *fmt, ...)
{
	struct sbuf b = {0};
	char inner[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(inner, sizeof inner, fmt, ap);
	va_end(ap);
	sb_printf(&b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>支付宝</title></head><body>%s</body></html>",
		  inner);
	out->body = b.p;
	out->status = 200;
	out->content_type = "text/html;charset=utf-8";
}

/* alipay.trade.wap.pay opened by the phone's browser: the cashier page, or its error page. */
static void wap_page(struct fakepay *f, const struct aparams *p, struct peer_reply *out)
{
	const char *name = "alipay_trade_wap_pay_response";
	json_t *biz = json_loads(ap_get(p, "biz_content") ? ap_get(p, "biz_content") : "", JSON_REJECT_DUPLICATES, NULL);
	struct fake_trade *t = NULL;
	struct peer_reply err = {0};
	if (!json_is_object(biz))
		refuse(f, &err, name, "40002", "isv.invalid-parameter", "biz_content is not a JSON object");
	else if (!bget(biz, "quit_url") || !*bget(biz, "quit_url"))
		refuse(f, &err, name, "40002", "isv.invalid-parameter", "quit_url is required");
	else
		create(f, p, biz, name, "wap", &err, &t);
	json_decref(biz);
	if (!t) {
		json_t *e = json_loads(err.body ? err.body : "{}", 0, NULL);
		json_t *o = json_object_get(e, name);
		page(out, "<h1>错误代码 %s</h1><p>%s</p>", json_string_value(json_object_get(o, "sub_code")),
		     json_string_value(json_object_get(o, "sub_msg")));
		json_decref(e);
		free(err.body);
		return;
	}
	char amt[32];
	yuan(t->amount, amt);
	page(out, "<h1>订单 %s</h1><p>%s</p><p>￥%s</p>", t->out_trade_no, t->description, amt);
}

static void gateway(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	struct aparams p = {0};
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_arg, &p);
	if (r->body_len) {
		const char *ct = peer_header(r, "Content-Type");
		struct bill_form form = {0};
		if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) ||
		    bill_form_parse(r->body, r->body_len, &form)) {
			bill_form_free(&form);
			refuse(f, out, "error_response", "40002", "isv.invalid-parameter",
			       "the body is not an application/x-www-form-urlencoded form");
			goto out;
		}
		for (size_t i = 0; i < form.n; i++)
			ap_add(&p, form.keys[i], form.vals[i]);
		bill_form_free(&form);
	}
	const char *method = ap_get(&p, "method");
	if (!method || !*method) {
		refuse(f, out, "error_response", "40001", "isv.missing-method", "缺少方法名参数");
		goto out;
	}
	char name[160];
	snprintf(name, sizeof name, "%.128s_response", method);
	for (char *c = name; *c; c++)
		if (*c == '.')
			*c = '_';
	if (!strcmp(method, "alipay.trade.wap.pay")) {
		if (check_common(f, &p, name, out) == 0) {
			free(out->body);
			out->body = NULL;
			wap_page(f, &p, out);
		} else {
			/* a page method's refusal is a page too */
			json_t *e = json_loads(out->body, 0, NULL);
			json_t *o = json_object_get(e, name);
			free(out->body);
			out->body = NULL;
			page(out, "<h1>错误代码 %s</h1><p>%s</p>", json_string_value(json_object_get(o, "sub_code")),
			     json_string_value(json_object_get(o, "sub_msg")));
			json_decref(e);
		}
		goto out;
	}
	static const char *const known_methods[] = {"alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close",
						   "alipay.trade.refund", "alipay.trade.fastpay.refund.query",
						   "alipay.data.dataservice.bill.downloadurl.query"};
	size_t m = 0;
	while (m < sizeof known_methods / sizeof *known_methods && strcmp(known_methods[m], method))
		m++;
	if (m == sizeof known_methods / sizeof *known_methods) {
		refuse(f, out, "error_response", "40002", "isv.invalid-method", "不存在的方法名 %.64s", method);
		goto out;
	}
	if (check_common(f, &p, name, out))
		goto out;
	const char *bc = ap_get(&p, "biz_content");
	json_t *biz = bc && *bc ? json_loads(bc, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(biz)) {
		json_decref(biz);
		refuse(f, out, name, "40002", "isv.invalid-parameter", "biz_content is missing or not a JSON object");
		goto out;
	}
	switch (m) {
	case 0:
		precreate(f, &p, biz, name, out);
		break;
	case 1:
		query(f, biz, name, out);
		break;
	case 2:
		close_trade(f, biz, name, out);
		break;
	case 3:
		refund(f, biz, name, out);
		break;
	case 4:
		refund_query(f, biz, name, out);
		break;
	default:
		bill_url(f, biz, name, out);
	}
	json_decref(biz);
out:
	ap_free(&p);
}

void fake_alipay(struct fakepay *f, const struct peer_request *r, struct peer_reply *out)
{
	pthread_mutex_lock(&f->mu);
	if (!strcmp(r->path, "/gateway.do") && (!strcmp(r->method, "POST") || !strcmp(r->method, "GET"))) {
		gateway(f, r, out);
	} else if (!strcmp(r->path, "/downloadBillFile.resource") && !strcmp(r->method, "GET")) {
		bill_download(f, r, out);
	} else {
		fake_refuse(f, "%s %s: no such path at Alipay", r->method, r->path);
		out->status = 404;
		out->content_type = "text/plain";
		out->body = strdup("not found");
	}
	pthread_mutex_unlock(&f->mu);
}

int fake_alipay_scan(struct fakepay *f, const char *out_trade_no)
{
	pthread_mutex_lock(&f->mu);
	struct fake_trade *t = fake_trade_find(f, out_trade_no, NULL);
	int rc = -1;
	if (t && t->state == FT_OPEN && (int64_t)time(NULL) >= t->expires_s)
		t->state = FT_CLOSED; /* the code died with time_expire: nothing to scan */
	if (t && t->state == FT_OPEN) {
		if (!t->txn[0])
			fake_id(f, "2026", t->txn);
		rc = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}
