/* test_prov_wechat.c: wattle calling WeChat Pay API v3 (api/prov_wechat.c) against the fake
 * (tools/fakepay/fake_wechat.c), in-process: orders (Native, JSAPI), queries, closes,
 * refunds, the bill; and requests built by hand that prove the fake checks what WeChat
 * checks. No database. */
#include "api/api.h"
#include "api/provider.h"
#include "check_run.h"
#include "core/paysig.h"
#include "fakepay.h"

#include <check.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MCHID "1900000109"
#define APPID "wxd678efh567hg6787"
#define MSERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define PSERIAL "7132D72A03E93CDDF8C03BBD1F37EEDF5A6BA9BB"
#define PUBLIC_URL "https://wattle.example.com"

static EVP_PKEY *merchant, *merchant_pub, *platform, *other;
static struct fakepay *f;
static char merchant_path[128], platform_path[128], base[128];
static unsigned seq;

static EVP_PKEY *public_only(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	ck_assert_int_gt(n, 0);
	const unsigned char *p = der;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	ck_assert_ptr_nonnull(pub);
	return pub;
}

static void settings(long timeout_ms)
{
	static char key[] = "0123456789abcdef0123456789ABCDEF";
	struct api_pay_settings s = {0};
	s.wx_apiv3_key = key;
	s.wx_pubkey_path = platform_path;
	s.wx_serial = PSERIAL;
	s.wx_mchid = MCHID;
	s.wx_api_base = base;
	s.wx_appid = APPID;
	s.wx_merchant_key_path = merchant_path;
	s.wx_merchant_serial = MSERIAL;
	s.public_url = PUBLIC_URL;
	s.timeout_ms = timeout_ms;
	ck_assert_int_eq(api_payments_start(&s), 0);
	ck_assert(prov_enabled(PROV_WECHAT));
}

static void setup(void)
{
	ck_assert_ptr_nonnull(merchant = EVP_RSA_gen(2048));
	ck_assert_ptr_nonnull(platform = EVP_RSA_gen(2048));
	ck_assert_ptr_nonnull(other = EVP_RSA_gen(2048));
	merchant_pub = public_only(merchant);
	snprintf(merchant_path, sizeof merchant_path, "/tmp/wattle-prov-wechat-%d-merchant.pem", (int)getpid());
	snprintf(platform_path, sizeof platform_path, "/tmp/wattle-prov-wechat-%d-platform.pem", (int)getpid());
	FILE *fp = fopen(merchant_path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert(PEM_write_PrivateKey(fp, merchant, NULL, NULL, 0, NULL, NULL));
	fclose(fp);
	ck_assert_ptr_nonnull(fp = fopen(platform_path, "w"));
	ck_assert(PEM_write_PUBKEY(fp, platform));
	fclose(fp);
	struct fakepay_keys k = {.client_pub = merchant_pub, .sign_key = platform, .mchid = MCHID, .appid = APPID,
				 .merchant_serial = MSERIAL, .platform_serial = PSERIAL};
	ck_assert_ptr_nonnull(f = fakepay_start("wechat", &k));
	fakepay_base(f, base, sizeof base);
	settings(3000);
}

static void teardown(void)
{
	api_payments_stop();
	fakepay_stop(f);
	unlink(merchant_path);
	unlink(platform_path);
	EVP_PKEY_free(merchant);
	EVP_PKEY_free(merchant_pub);
	EVP_PKEY_free(platform);
	EVP_PKEY_free(other);
}

/* A new out_trade_no of 26 characters. */
static const char *new_no(char out[32])
{
	snprintf(out, 32, "T%011lld%06d%08u", (long long)time(NULL), (int)getpid() % 1000000, ++seq);
	ck_assert_uint_eq(strlen(out), 26);
	return out;
}

static struct prov_order_req order(const char *no, int64_t amount, const char *openid)
{
	int64_t now = (int64_t)time(NULL);
	struct prov_order_req rq = {.out_trade_no = no, .order_id = 1, .tenant_id = 1, .amount_minor = amount,
				    .currency = "CNY", .description = "Mall A, Shop 3: electricity top-up",
				    .expires_s = now + 1800, .now_s = now, .openid = openid};
	return rq;
}

/* Create a Native order for amount and pay it at the fake; its txn into txn. */
static void paid(const char *no, int64_t amount, char txn[64])
{
	struct prov_order_req rq = order(no, amount, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	ck_assert_int_eq(fakepay_pay(f, no, txn), 0);
}

/* China's day now, YYYY-MM-DD. */
static void china_today(char out[11])
{
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- requests built by hand ---- */

struct raw {
	const char *method, *path_q, *body; /* the path and query signed and sent */
	const char *sign_body;              /* signed instead of body when set (a tampered body) */
	EVP_PKEY *key;                      /* NULL: no Authorization */
	const char *serial, *mchid;
	long ts_off;
	bool no_ua, no_accept, no_ct;
	const char *sign_path; /* signed instead of path_q when set (a tampered query) */
};
struct raw_resp {
	long status;
	char code[64];
	json_t *json;
};

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	char **b = ud;
	size_t old = *b ? strlen(*b) : 0, add = size * n;
	char *q = realloc(*b, old + add + 1);
	ck_assert_ptr_nonnull(q);
	memcpy(q + old, p, add);
	q[old + add] = 0;
	*b = q;
	return add;
}

static struct raw_resp raw(const struct raw *r)
{
	char ts[24], nonce[33] = "0123456789ABCDEF0123456789ABCDEF";
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) + r->ts_off);
	const char *body = r->body ? r->body : "";
	const char *sb = r->sign_body ? r->sign_body : body;
	char msg[8192];
	snprintf(msg, sizeof msg, "%s\n%s\n%s\n%s\n%s\n", r->method, r->sign_path ? r->sign_path : r->path_q, ts, nonce,
		 sb);
	struct curl_slist *hs = NULL;
	char auth[2048], url[512];
	if (r->key) {
		char *sig = bill_rsa_sha256_sign(r->key, msg, strlen(msg));
		ck_assert_ptr_nonnull(sig);
		snprintf(auth, sizeof auth,
			 "Authorization: WECHATPAY2-SHA256-RSA2048 mchid=\"%s\",nonce_str=\"%s\",signature=\"%s\","
			 "timestamp=\"%s\",serial_no=\"%s\"",
			 r->mchid ? r->mchid : MCHID, nonce, sig, ts, r->serial ? r->serial : MSERIAL);
		free(sig);
		hs = curl_slist_append(hs, auth);
	}
	if (!r->no_ua)
		hs = curl_slist_append(hs, "User-Agent: wattle-test");
	hs = curl_slist_append(hs, r->no_accept ? "Accept:" : "Accept: application/json");
	if (r->body && !r->no_ct)
		hs = curl_slist_append(hs, "Content-Type: application/json");
	else if (r->body)
		hs = curl_slist_append(hs, "Content-Type: text/plain");
	hs = curl_slist_append(hs, "Expect:");
	snprintf(url, sizeof url, "%s%s", base, r->path_q);
	CURL *h = curl_easy_init();
	char *resp = NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (r->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	}
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	struct raw_resp out = {0};
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hs);
	out.json = resp ? json_loads(resp, 0, NULL) : NULL;
	const char *code = json_string_value(json_object_get(out.json, "code"));
	snprintf(out.code, sizeof out.code, "%s", code ? code : "");
	free(resp);
	return out;
}

/* A Native order body with a field replaced (or removed: value NULL). New. */
static char *native_body(const char *no, const char *field, json_t *value)
{
	char exp[32];
	time_t t = time(NULL) + 8 * 3600 + 600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
	json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:s}}", "appid", APPID, "mchid", MCHID,
			      "description", "top-up", "out_trade_no", no, "time_expire", exp, "notify_url",
			      PUBLIC_URL "/v1/webhooks/payments/wechat", "amount", "total", 100, "currency", "CNY");
	if (field) {
		if (value)
			json_object_set_new(b, field, value);
		else
			json_object_del(b, field);
	}
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return s;
}

/* ---- orders ---- */

START_TEST(native_order_is_created_at_the_fake)
{
	char no[32];
	struct prov_order_req rq = order(new_no(no), 2550, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(st.http_status, 200);
	ck_assert_msg(!strncmp(o.pay_url, "weixin://wxpay/bizpayurl?pr=", 28), "%s", o.pay_url);
	ck_assert_str_eq(o.provider_ref, "");
	ck_assert_ptr_null(o.pay_params);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.amount, 2550);
	ck_assert_str_eq(t.mode, "native");
	ck_assert_str_eq(t.currency, "CNY");
	ck_assert_str_eq(t.description, "Mall A, Shop 3: electricity top-up");
	ck_assert_str_eq(t.notify_url, PUBLIC_URL "/v1/webhooks/payments/wechat");
	ck_assert_int_eq(t.expires_s, rq.expires_s); /* time_expire in +08:00 read back exactly */
	ck_assert_int_eq(t.state, FT_OPEN);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);
	ck_assert_uint_eq(fakepay_refused(f), 0);
	/* the same order again: the same code_url, still one trade */
	struct prov_order o2;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o2, &st), 0);
	ck_assert_str_eq(o2.pay_url, o.pay_url);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 2);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(jsapi_order_gives_signed_pay_params)
{
	char no[32];
	struct prov_order_req rq = order(new_no(no), 100, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_str_eq(t.mode, "jsapi");
	ck_assert_str_eq(t.openid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
	ck_assert(t.ref[0]);
	ck_assert_str_eq(o.provider_ref, t.ref);
	ck_assert_str_eq(o.pay_url, "");
	ck_assert_ptr_nonnull(o.pay_params);
	const char *appid = json_string_value(json_object_get(o.pay_params, "appId"));
	const char *ts = json_string_value(json_object_get(o.pay_params, "timeStamp"));
	const char *nonce = json_string_value(json_object_get(o.pay_params, "nonceStr"));
	const char *pkg = json_string_value(json_object_get(o.pay_params, "package"));
	const char *type = json_string_value(json_object_get(o.pay_params, "signType"));
	const char *sig = json_string_value(json_object_get(o.pay_params, "paySign"));
	ck_assert_ptr_nonnull(appid);
	ck_assert_ptr_nonnull(ts);
	ck_assert_ptr_nonnull(nonce);
	ck_assert_ptr_nonnull(pkg);
	ck_assert_ptr_nonnull(sig);
	ck_assert_str_eq(appid, APPID);
	ck_assert_str_eq(type, "RSA");
	char want[300];
	snprintf(want, sizeof want, "prepay_id=%s", t.ref);
	ck_assert_str_eq(pkg, want);
	long long when = atoll(ts);
	ck_assert(when >= (long long)time(NULL) - 60 && when <= (long long)time(NULL));
	char msg[1024];
	snprintf(msg, sizeof msg, "%s\n%s\n%s\n%s\n", appid, ts, nonce, pkg);
	ck_assert(bill_rsa_sha256_verify(merchant_pub, msg, strlen(msg), sig));
	ck_assert(!bill_rsa_sha256_verify(platform, msg, strlen(msg), sig));
	msg[0] ^= 1; /* the signature covers the fields */
	ck_assert(!bill_rsa_sha256_verify(merchant_pub, msg, strlen(msg), sig));
	json_decref(o.pay_params);
}
END_TEST

START_TEST(query_sees_open_paid_closed_and_unknown)
{
	char a[32], b[32], txn[64];
	struct prov_order_req rq = order(new_no(a), 4321, NULL);
	struct prov_order o;
	struct prov_status st;
	struct prov_trade tr;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, a, "", &tr, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(tr.state, TRADE_OPEN);
	ck_assert_str_eq(json_string_value(json_object_get(tr.raw, "trade_state")), "NOTPAY");
	json_decref(tr.raw);
	ck_assert_int_eq(fakepay_pay(f, a, txn), 0);
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, a, "", &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_PAID);
	ck_assert_str_eq(tr.txn, txn);
	ck_assert_int_eq(tr.amount_minor, 4321);
	ck_assert_str_eq(tr.currency, "CNY");
	ck_assert_str_eq(json_string_value(json_object_get(tr.raw, "transaction_id")), txn);
	json_decref(tr.raw);
	/* close: an open order closes (twice is fine), a paid one is "paid" */
	rq = order(new_no(b), 500, NULL);
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	ck_assert_int_eq(prov_order_close(PROV_WECHAT, b, "", &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(st.http_status, 204);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, b, &t), 0);
	ck_assert_int_eq(t.state, FT_CLOSED);
	ck_assert_int_eq(prov_order_close(PROV_WECHAT, b, "", &st), 0);
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, b, "", &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_CLOSED);
	json_decref(tr.raw);
	ck_assert_int_eq(fakepay_pay(f, b, NULL), -1); /* closed: no longer payable */
	ck_assert_int_eq(prov_order_close(PROV_WECHAT, a, "", &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "paid");
	ck_assert_int_eq(st.http_status, 400);
	ck_assert_int_eq(fakepay_trade(f, a, &t), 0);
	ck_assert_int_eq(t.state, FT_PAID);
	/* unknown */
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, "T00000000000000000000000000", "", &tr, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(st.http_status, 404);
	ck_assert_int_eq(tr.state, TRADE_UNKNOWN);
	ck_assert_ptr_null(tr.raw);
	/* closing an order WeChat never had: nothing can pay it, which is what closing is for */
	ck_assert_int_eq(prov_order_close(PROV_WECHAT, "T00000000000000000000000000", "", &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(st.http_status, 404);
	ck_assert_uint_eq(fakepay_calls(f, FC_QUERY), 4);
	ck_assert_uint_eq(fakepay_calls(f, FC_CLOSE), 4);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(refunds_full_partial_and_refused)
{
	char a[32], b[32], txa[64], txb[64];
	paid(new_no(a), 5000, txa);
	struct prov_refund_req rq = {.txn = txa, .out_trade_no = a, .out_refund_no = "rf101", .amount_minor = 2000,
				     .total_minor = 5000, .currency = "CNY", .reason = "move-out"};
	struct prov_refund r;
	struct prov_status st;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &rq, &r, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	ck_assert(r.refund_ref[0]);
	ck_assert_str_eq(json_string_value(json_object_get(r.raw, "status")), "SUCCESS");
	json_decref(r.raw);
	char ref1[130];
	snprintf(ref1, sizeof ref1, "%s", r.refund_ref);
	pthread_mutex_lock(&f->mu);
	struct fake_refund *fr = fake_refund_find(f, "rf101");
	ck_assert_ptr_nonnull(fr);
	ck_assert_str_eq(fr->refund_id, ref1);
	ck_assert_str_eq(fr->txn, txa);
	ck_assert_str_eq(fr->reason, "move-out");
	ck_assert_int_eq(fr->amount, 2000);
	pthread_mutex_unlock(&f->mu);
	/* more than is left: refused with WeChat's code */
	struct prov_refund_req big = rq;
	big.out_refund_no = "rf102";
	big.amount_minor = 3001;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &big, &r, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "NOT_ENOUGH");
	ck_assert_int_eq(st.http_status, 403);
	ck_assert_ptr_null(r.raw);
	/* the same refund asked again: the same refund, once */
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &rq, &r, &st), 0);
	ck_assert_str_eq(r.refund_ref, ref1);
	json_decref(r.raw);
	/* the rest: exactly what is left */
	big.amount_minor = 3000;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &big, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	json_decref(r.raw);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, a, &t), 0);
	ck_assert_int_eq(t.refunded, 5000);
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->nrefunds, 2);
	pthread_mutex_unlock(&f->mu);
	/* refunded, still paid */
	struct prov_trade tr;
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, a, "", &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_PAID);
	ck_assert_int_eq(tr.amount_minor, 5000);
	json_decref(tr.raw);
	/* a full refund, by out_trade_no alone, pending until settled */
	paid(new_no(b), 800, txb);
	pthread_mutex_lock(&f->mu);
	f->refund_pending = true;
	pthread_mutex_unlock(&f->mu);
	struct prov_refund_req full = {.out_trade_no = b, .out_refund_no = "rf103", .amount_minor = 800,
				       .total_minor = 800, .currency = "CNY"};
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &full, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_PENDING);
	json_decref(r.raw);
	ck_assert_int_eq(prov_refund_query(PROV_WECHAT, &full, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_PENDING);
	json_decref(r.raw);
	ck_assert_int_eq(fakepay_refund_settle(f, true), 1);
	ck_assert_int_eq(prov_refund_query(PROV_WECHAT, &full, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	ck_assert_str_eq(json_string_value(json_object_get(r.raw, "transaction_id")), txb);
	json_decref(r.raw);
	/* settled as failed */
	char c[32], txc[64];
	paid(new_no(c), 300, txc);
	struct prov_refund_req fail = {.txn = txc, .out_refund_no = "rf104", .amount_minor = 300, .total_minor = 300,
				       .currency = "CNY"};
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &fail, &r, &st), 0);
	json_decref(r.raw);
	ck_assert_int_eq(fakepay_refund_settle(f, false), 1);
	ck_assert_int_eq(prov_refund_query(PROV_WECHAT, &fail, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_FAILED);
	json_decref(r.raw);
	/* unknown refund */
	struct prov_refund_req none = {.out_refund_no = "rf999"};
	ck_assert_int_eq(prov_refund_query(PROV_WECHAT, &none, &r, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "RESOURCE_NOT_EXISTS");
	ck_assert_int_eq(st.http_status, 404);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND), 6);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND_QUERY), 4);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

static const struct prov_bill_line *find_line(const struct prov_bill_line *l, size_t n, const char *txn, bool refund)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].txn, txn) && l[i].refund == refund)
			return &l[i];
	return NULL;
}

START_TEST(bill_of_a_day_has_payments_refunds_extras_and_overrides)
{
	char a[32], b[32], c[32], ta[64], tb[64], tc[64], today[11];
	paid(new_no(a), 1234, ta);
	paid(new_no(b), 5000, tb);
	paid(new_no(c), 700, tc);
	struct prov_refund_req rq = {.txn = ta, .out_refund_no = "rf201", .amount_minor = 234, .total_minor = 1234,
				     .currency = "CNY"};
	struct prov_refund r;
	struct prov_status st;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &rq, &r, &st), 0);
	json_decref(r.raw);
	china_today(today);
	int64_t extra_at = (int64_t)time(NULL) - 30;
	pthread_mutex_lock(&f->mu);
	fake_trade_find(f, b, NULL)->bill_amount = 4999; /* the bill says otherwise */
	fake_trade_find(f, c, NULL)->bill_hide = true;   /* the bill leaves it out */
	struct fake_bill_extra *x = &f->extras[f->nextras++];
	snprintf(x->date, sizeof x->date, "%s", today);
	snprintf(x->txn, sizeof x->txn, "4200000000202612019999");
	snprintf(x->out_trade_no, sizeof x->out_trade_no, "TEXTRA000001");
	x->amount = 777;
	x->at_s = extra_at;
	struct fake_bill_extra *y = &f->extras[f->nextras++]; /* another day's: not in this bill */
	snprintf(y->date, sizeof y->date, "2020-01-01");
	snprintf(y->txn, sizeof y->txn, "4200000000202001010001");
	y->amount = 1;
	y->at_s = 1577840000;
	int64_t paid_a = fake_trade_find(f, a, NULL)->paid_s, refund_at = fake_refund_find(f, "rf201")->created_s;
	char refund_id[64];
	snprintf(refund_id, sizeof refund_id, "%s", fake_refund_find(f, "rf201")->refund_id);
	pthread_mutex_unlock(&f->mu);

	struct prov_bill_line *l;
	size_t n;
	ck_assert_int_eq(prov_bill(PROV_WECHAT, today, 0, 0, &l, &n, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(n, 4); /* a, b, the extra and a's refund; not c, nor the summary */
	const struct prov_bill_line *la = find_line(l, n, ta, false), *lb = find_line(l, n, tb, false);
	const struct prov_bill_line *lx = find_line(l, n, "4200000000202612019999", false);
	const struct prov_bill_line *lr = find_line(l, n, ta, true);
	ck_assert_ptr_nonnull(la);
	ck_assert_ptr_nonnull(lb);
	ck_assert_ptr_nonnull(lx);
	ck_assert_ptr_nonnull(lr);
	ck_assert_ptr_null(find_line(l, n, tc, false));
	ck_assert_int_eq(la->amount_minor, 1234);
	ck_assert_str_eq(la->out_trade_no, a);
	ck_assert_str_eq(la->currency, "CNY");
	ck_assert_int_eq(la->at_s, paid_a);
	ck_assert_int_eq(lb->amount_minor, 4999);
	ck_assert_str_eq(lb->out_trade_no, b);
	ck_assert_int_eq(lx->amount_minor, 777);
	ck_assert_str_eq(lx->out_trade_no, "TEXTRA000001");
	ck_assert_int_eq(lx->at_s, extra_at);
	ck_assert_int_eq(lr->amount_minor, 234);
	ck_assert_str_eq(lr->refund_ref, refund_id);
	ck_assert_str_eq(lr->out_trade_no, a);
	ck_assert_int_eq(lr->at_s, refund_at);
	free(l);
	/* a day without trades: WeChat has no statement, which is an empty one */
	ck_assert_int_eq(prov_bill(PROV_WECHAT, "2020-01-02", 0, 0, &l, &n, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(n, 0);
	free(l);
	ck_assert_int_eq(prov_bill(PROV_WECHAT, "2020-01-01", 0, 0, &l, &n, &st), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(l[0].amount_minor, 1);
	ck_assert_int_eq(l[0].at_s, 1577840000);
	free(l);
	ck_assert_uint_eq(fakepay_calls(f, FC_BILL), 3);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(bill_changed_in_transit_is_refused)
{
	char a[32], ta[64], today[11];
	paid(new_no(a), 1000, ta);
	china_today(today);
	pthread_mutex_lock(&f->mu);
	f->wx_bill_tamper = true;
	pthread_mutex_unlock(&f->mu);
	struct prov_bill_line *l;
	size_t n;
	struct prov_status st;
	ck_assert_int_eq(prov_bill(PROV_WECHAT, today, 0, 0, &l, &n, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_ptr_null(l);
	ck_assert_uint_eq(n, 0);
	pthread_mutex_lock(&f->mu);
	f->wx_bill_tamper = false;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_bill(PROV_WECHAT, today, 0, 0, &l, &n, &st), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(l[0].amount_minor, 1000);
	free(l);
}
END_TEST

/* WeChat's bill layouts differ by bill type and merchant: columns are found by name. */
START_TEST(bill_columns_are_read_by_name)
{
	char a[32], ta[64], today[11];
	paid(new_no(a), 2001, ta);
	struct prov_refund_req rq = {.txn = ta, .out_refund_no = "rf401", .amount_minor = 1, .total_minor = 2001,
				     .currency = "CNY"};
	struct prov_refund r;
	struct prov_status st;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &rq, &r, &st), 0);
	json_decref(r.raw);
	china_today(today);
	pthread_mutex_lock(&f->mu);
	f->wx_bill_reorder = true;
	pthread_mutex_unlock(&f->mu);
	struct prov_bill_line *l;
	size_t n;
	ck_assert_int_eq(prov_bill(PROV_WECHAT, today, 0, 0, &l, &n, &st), 0);
	ck_assert_uint_eq(n, 2);
	const struct prov_bill_line *p = find_line(l, n, ta, false), *rf = find_line(l, n, ta, true);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(rf);
	ck_assert_int_eq(p->amount_minor, 2001);
	ck_assert_str_eq(p->out_trade_no, a);
	ck_assert_int_eq(rf->amount_minor, 1);
	ck_assert_str_eq(rf->refund_ref, r.refund_ref);
	free(l);
}
END_TEST

/* ---- the fake checks what WeChat checks ---- */

START_TEST(fake_refuses_a_request_not_signed_by_the_merchant)
{
	char no[32], path[128];
	struct prov_order_req rq = order(new_no(no), 100, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), 0);
	snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s?mchid=" MCHID, no);
	/* the control: signed right, by hand, it passes */
	struct raw_resp rr = raw(&(struct raw){.method = "GET", .path_q = path, .key = merchant});
	ck_assert_int_eq(rr.status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(rr.json, "trade_state")), "NOTPAY");
	json_decref(rr.json);
	unsigned q = fakepay_calls(f, FC_QUERY), refused = fakepay_refused(f);
	struct raw cases[] = {
		{.method = "GET", .path_q = path, .key = other},        /* another key */
		{.method = "GET", .path_q = path, .key = merchant, .serial = "0000SERIAL"}, /* another serial */
		{.method = "GET", .path_q = path, .key = merchant, .mchid = "1900000999"}, /* another mchid */
		{.method = "GET", .path_q = path, .key = merchant, .ts_off = -600},      /* 10 minutes old */
		{.method = "GET", .path_q = path},             /* no Authorization */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		rr = raw(&cases[i]);
		ck_assert_msg(rr.status == 401 && !strcmp(rr.code, "SIGN_ERROR"), "case %zu: %ld %s", i, rr.status,
			      rr.code);
		json_decref(rr.json);
	}
	/* the query string is signed: another one than signed is refused */
	char other_q[160];
	snprintf(other_q, sizeof other_q, "/v3/pay/transactions/out-trade-no/%s?mchid=" MCHID "&x=1", no);
	rr = raw(&(struct raw){.method = "GET", .path_q = other_q, .key = merchant, .sign_path = path});
	ck_assert_int_eq(rr.status, 401);
	ck_assert_str_eq(rr.code, "SIGN_ERROR");
	json_decref(rr.json);
	rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = "{\"a\":1}", .sign_body = "{\"a\":2}", .key = merchant}); /* the body is signed */
	ck_assert_int_eq(rr.status, 401);
	ck_assert_str_eq(rr.code, "SIGN_ERROR");
	json_decref(rr.json);
	ck_assert_uint_eq(fakepay_calls(f, FC_QUERY), q);
	ck_assert_uint_eq(fakepay_refused(f), refused + 7);
	pthread_mutex_lock(&f->mu);
	ck_assert_msg(strstr(f->last_refusal, "SIGN_ERROR"), "%s", f->last_refusal);
	pthread_mutex_unlock(&f->mu);
}
END_TEST

START_TEST(fake_refuses_missing_headers_and_parameters)
{
	char no[32];
	new_no(no);
	char *good = native_body(no, NULL, NULL);
	unsigned refused = fakepay_refused(f);
	/* headers WeChat needs */
	struct raw_resp rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = good, .key = merchant, .no_ua = true});
	ck_assert_int_eq(rr.status, 400); /* no User-Agent */
	ck_assert_str_eq(rr.code, "PARAM_ERROR");
	json_decref(rr.json);
	rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = good, .key = merchant, .no_accept = true});
	ck_assert_int_eq(rr.status, 400); /* no Accept */
	json_decref(rr.json);
	rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = good, .key = merchant, .no_ct = true});
	ck_assert_int_eq(rr.status, 400); /* not application/json */
	json_decref(rr.json);
	/* fields */
	char past[32];
	time_t t = time(NULL) + 8 * 3600 - 60;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(past, sizeof past, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
	struct {
		const char *field;
		json_t *value;
		const char *code;
	} cases[] = {
		{"description", NULL, "PARAM_ERROR"},
		{"notify_url", NULL, "PARAM_ERROR"},
		{"time_expire", json_string(past), "PARAM_ERROR"},
		{"time_expire", json_string("tomorrow"), "PARAM_ERROR"},
		{"amount", json_pack("{s:i, s:s}", "total", 0, "currency", "CNY"), "PARAM_ERROR"},
		{"amount", json_pack("{s:s}", "total", "100"), "PARAM_ERROR"},
		{"appid", json_string("wx0000000000000000"), "APPID_MCHID_NOT_MATCH"},
		{"mchid", json_string("1900000999"), "PARAM_ERROR"},
		{"out_trade_no", json_string("a b"), "PARAM_ERROR"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *body = native_body(no, cases[i].field, cases[i].value);
		rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = body, .key = merchant});
		ck_assert_msg(rr.status == 400 && !strcmp(rr.code, cases[i].code), "case %zu (%s): %ld %s", i,
			      cases[i].field, rr.status, rr.code);
		json_decref(rr.json);
		free(body);
	}
	/* JSAPI without the payer */
	rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/jsapi", .body = good, .key = merchant});
	ck_assert_int_eq(rr.status, 400);
	json_decref(rr.json);
	/* a query without mchid */
	char path[128];
	snprintf(path, sizeof path, "/v3/pay/transactions/out-trade-no/%s", no);
	rr = raw(&(struct raw){.method = "GET", .path_q = path, .key = merchant});
	ck_assert_int_eq(rr.status, 400);
	json_decref(rr.json);
	ck_assert_uint_eq(fakepay_refused(f), refused + 3 + sizeof cases / sizeof *cases + 2);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 0);
	struct fake_trade ft;
	ck_assert_int_eq(fakepay_trade(f, no, &ft), -1);
	/* the control: the same body, whole, is accepted */
	rr = raw(&(struct raw){.method = "POST", .path_q = "/v3/pay/transactions/native", .body = good, .key = merchant});
	ck_assert_int_eq(rr.status, 200);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(rr.json, "code_url")));
	json_decref(rr.json);
	ck_assert_int_eq(fakepay_trade(f, no, &ft), 0);
	free(good);
}
END_TEST

/* ---- wattle checks what WeChat answers ---- */

START_TEST(answer_signed_with_another_key_is_bad_signature)
{
	char no[32], paid_no[32], txn[64];
	paid(new_no(paid_no), 100, txn);
	pthread_mutex_lock(&f->mu);
	f->bad_answer_sig = true;
	pthread_mutex_unlock(&f->mu);
	struct prov_order_req rq = order(new_no(no), 100, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_str_eq(o.pay_url, "");
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0); /* it was made: only the answer is not believed */
	struct prov_trade tr;
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, paid_no, "", &tr, &st), -1);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_ptr_null(tr.raw);
	ck_assert_int_eq(prov_order_close(PROV_WECHAT, no, "", &st), -1); /* 204: the empty body's signature */
	ck_assert_str_eq(st.code, "bad_signature");
	struct prov_refund_req rr = {.txn = txn, .out_refund_no = "rf301", .amount_minor = 100, .total_minor = 100,
				     .currency = "CNY"};
	struct prov_refund r;
	ck_assert_int_eq(prov_refund(PROV_WECHAT, &rr, &r, &st), -1);
	ck_assert_str_eq(st.code, "bad_signature");
	char today[11];
	china_today(today);
	struct prov_bill_line *l;
	size_t n;
	ck_assert_int_eq(prov_bill(PROV_WECHAT, today, 0, 0, &l, &n, &st), -1);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_ptr_null(l);
	/* and signed right again, believed */
	pthread_mutex_lock(&f->mu);
	f->bad_answer_sig = false;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, paid_no, "", &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_PAID);
	json_decref(tr.raw);
}
END_TEST

START_TEST(slow_answer_is_a_timeout)
{
	api_payments_stop();
	settings(300);
	pthread_mutex_lock(&f->mu);
	f->delay_ms = 1200;
	pthread_mutex_unlock(&f->mu);
	char no[32];
	struct prov_order_req rq = order(new_no(no), 100, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_TIMEOUT);
	ck_assert_str_eq(st.code, "timeout");
	ck_assert_int_eq(st.http_status, 0);
	struct prov_trade tr;
	ck_assert_int_eq(prov_order_query(PROV_WECHAT, no, "", &tr, &st), -1);
	ck_assert_int_eq(st.result, PR_TIMEOUT);
}
END_TEST

START_TEST(refused_create_gives_wechat_code)
{
	pthread_mutex_lock(&f->mu);
	snprintf(f->refuse_create, sizeof f->refuse_create, "NOAUTH");
	pthread_mutex_unlock(&f->mu);
	char no[32];
	struct prov_order_req rq = order(new_no(no), 100, NULL);
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "NOAUTH");
	ck_assert_int_eq(st.http_status, 400);
	ck_assert_str_eq(o.pay_url, "");
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), -1);
	/* WeChat's "try again" is an error (the outcome is not known), not a refusal */
	pthread_mutex_lock(&f->mu);
	snprintf(f->refuse_create, sizeof f->refuse_create, "SYSTEM_ERROR");
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_str_eq(st.code, "SYSTEM_ERROR");
	/* a paid order's number again is refused as WeChat refuses it */
	pthread_mutex_lock(&f->mu);
	f->refuse_create[0] = 0;
	pthread_mutex_unlock(&f->mu);
	char txn[64];
	paid(no, 100, txn);
	ck_assert_int_eq(prov_order_create(PROV_WECHAT, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "ORDERPAID");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prov_wechat");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, native_order_is_created_at_the_fake);
	tcase_add_test(tc, jsapi_order_gives_signed_pay_params);
	tcase_add_test(tc, query_sees_open_paid_closed_and_unknown);
	tcase_add_test(tc, refunds_full_partial_and_refused);
	tcase_add_test(tc, bill_of_a_day_has_payments_refunds_extras_and_overrides);
	tcase_add_test(tc, bill_columns_are_read_by_name);
	suite_add_tcase(s, tc);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_set_timeout(lim, 60);
	tcase_add_test(lim, fake_refuses_a_request_not_signed_by_the_merchant);
	tcase_add_test(lim, fake_refuses_missing_headers_and_parameters);
	tcase_add_test(lim, answer_signed_with_another_key_is_bad_signature);
	tcase_add_test(lim, slow_answer_is_a_timeout);
	tcase_add_test(lim, refused_create_gives_wechat_code);
	tcase_add_test(lim, bill_changed_in_transit_is_refused);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
