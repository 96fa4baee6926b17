/* test_prov_alipay.c: wattle calling Alipay's open API (api/prov_alipay.c) against the fake
 * (tools/fakepay/fake_alipay.c), in process, no database: orders (precreate, the wap
 * page), queries in every state, closes, refunds and their queries, the day's bill (a ZIP of
 * GBK CSV files); and that the fake refuses what Alipay refuses (another key's signature, a
 * missing or stale common parameter, a tampered URL) and that wattle refuses an answer signed
 * with another key, a slow answer and a refused create. */
#include "api/api.h"
#include "api/provider.h"
#include "check_run.h"
#include "fakepay.h"
#include "core/paysig.h"

#include <check.h>
#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APP_ID "2021000000000001"
#define PUBLIC_URL "https://wattle.example"

static EVP_PKEY *app_key, *ali_key, *other_key;
static struct fakepay *f;
static char app_pem[128], other_pem[128], ali_pub_pem[128], base[128];

static void write_key(const char *path, EVP_PKEY *k, bool priv)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_int_eq(priv ? PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(fp, k), 1);
	fclose(fp);
}

/* Start wattle's Alipay settings with this application private key and timeout. */
static void start_payments(const char *priv_path, long timeout_ms)
{
	struct api_pay_settings s = {0};
	s.ali_pubkey_path = ali_pub_pem;
	s.ali_app_id = APP_ID;
	s.ali_gateway = base;
	s.ali_app_private_key_path = priv_path;
	s.public_url = PUBLIC_URL;
	s.timeout_ms = timeout_ms;
	ck_assert_int_eq(api_payments_start(&s), 0);
	ck_assert(prov_enabled(PROV_ALIPAY));
}

static void setup(void)
{
	ck_assert_ptr_nonnull(app_key = EVP_RSA_gen(2048));
	ck_assert_ptr_nonnull(ali_key = EVP_RSA_gen(2048));
	ck_assert_ptr_nonnull(other_key = EVP_RSA_gen(2048));
	snprintf(app_pem, sizeof app_pem, "/tmp/wattle-ali-app-%d.pem", (int)getpid());
	snprintf(other_pem, sizeof other_pem, "/tmp/wattle-ali-other-%d.pem", (int)getpid());
	snprintf(ali_pub_pem, sizeof ali_pub_pem, "/tmp/wattle-ali-pub-%d.pem", (int)getpid());
	write_key(app_pem, app_key, true);
	write_key(other_pem, other_key, true);
	write_key(ali_pub_pem, ali_key, false);
	struct fakepay_keys k = {.client_pub = app_key, .sign_key = ali_key, .appid = APP_ID};
	ck_assert_ptr_nonnull(f = fakepay_start("alipay", &k));
	fakepay_base(f, base, sizeof base);
	start_payments(app_pem, 3000);
}

static void teardown(void)
{
	api_payments_stop();
	fakepay_stop(f);
	unlink(app_pem);
	unlink(other_pem);
	unlink(ali_pub_pem);
	EVP_PKEY_free(app_key);
	EVP_PKEY_free(ali_key);
	EVP_PKEY_free(other_key);
}

static unsigned seq;
static const char *order_no(char out[32])
{
	snprintf(out, 32, "T%013lld%06u%05d", (long long)time(NULL), ++seq, (int)(getpid() % 100000));
	return out;
}

static int create(const char *no, int64_t amount, bool h5, struct prov_order *o, struct prov_status *st)
{
	int64_t now = (int64_t)time(NULL);
	struct prov_order_req rq = {.out_trade_no = no, .order_id = 1, .tenant_id = 2, .amount_minor = amount,
				    .currency = "CNY", .description = "Harbour City 商铺 A-101: electricity top-up",
				    .expires_s = now + 1800, .now_s = now, .h5 = h5};
	return prov_order_create(PROV_ALIPAY, &rq, o, st);
}

static struct prov_trade query(const char *no, struct prov_status *st)
{
	struct prov_trade t;
	ck_assert_int_eq(prov_order_query(PROV_ALIPAY, no, NULL, &t, st), 0);
	ck_assert_int_eq(st->result, PR_OK);
	ck_assert_ptr_nonnull(t.raw);
	json_decref(t.raw);
	t.raw = NULL;
	return t;
}

/* A paid trade of amount: created, scanned, paid. Its txn into txn[64]. */
static void paid(const char *no, int64_t amount, char txn[64])
{
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(no, amount, false, &o, &st), 0);
	ck_assert_int_eq(fakepay_pay(f, no, txn), 0);
}

static int refund(const char *no, const char *txn, const char *rf, int64_t amount, int64_t total,
		  struct prov_refund *r, struct prov_status *st)
{
	struct prov_refund_req rq = {.txn = txn, .out_trade_no = no, .out_refund_no = rf, .amount_minor = amount,
				     .total_minor = total, .currency = "CNY", .reason = "tenant moved out"};
	int rc = prov_refund(PROV_ALIPAY, &rq, r, st);
	json_decref(r->raw);
	r->raw = NULL;
	return rc;
}

static enum prov_refund_state refund_state(const char *no, const char *txn, const char *rf)
{
	struct prov_refund_req rq = {.txn = txn, .out_trade_no = no, .out_refund_no = rf, .currency = "CNY"};
	struct prov_refund r;
	struct prov_status st;
	ck_assert_int_eq(prov_refund_query(PROV_ALIPAY, &rq, &r, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_str_eq(r.refund_ref, rf);
	json_decref(r.raw);
	return r.state;
}

/* ---- a request built by hand, as another client would send it ---- */

struct kv {
	const char *k, *v;
};

struct sink {
	char *p;
	size_t n, cap;
};

static size_t put(char *d, size_t sz, size_t nm, void *ud)
{
	struct sink *s = ud;
	size_t add = sz * nm;
	if (s->n + add >= s->cap)
		return 0;
	memcpy(s->p + s->n, d, add);
	s->n += add;
	s->p[s->n] = 0;
	return add;
}

static int cmp_kv(const void *a, const void *b) { return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k); }

/* POST the parameters (sorted here, signed with key over every non-empty one; then
 * tamper_k's value replaced by tamper_v when given) to the fake; the answer's sub_code
 * ("" for 10000) into code. */
static void post_form(struct kv *ps, size_t n, EVP_PKEY *key, const char *tamper_k, const char *tamper_v,
		      char code[64])
{
	qsort(ps, n, sizeof *ps, cmp_kv);
	char content[8192] = "", body[16384] = "";
	for (size_t i = 0; i < n; i++)
		if (*ps[i].v) {
			if (*content)
				strcat(content, "&");
			strcat(content, ps[i].k);
			strcat(content, "=");
			strcat(content, ps[i].v);
		}
	char *sig = bill_rsa_sha256_sign(key, content, strlen(content));
	ck_assert_ptr_nonnull(sig);
	CURL *c = curl_easy_init();
	for (size_t i = 0; i < n; i++) {
		const char *v = tamper_k && !strcmp(ps[i].k, tamper_k) ? tamper_v : ps[i].v;
		char *e = curl_easy_escape(c, v, 0);
		snprintf(body + strlen(body), sizeof body - strlen(body), "%s%s=%s", i ? "&" : "", ps[i].k, e);
		curl_free(e);
	}
	char *e = curl_easy_escape(c, sig, 0);
	snprintf(body + strlen(body), sizeof body - strlen(body), "&sign=%s", e);
	curl_free(e);
	free(sig);
	char resp[8192] = "";
	struct sink sink = {resp, 0, sizeof resp};
	struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded;charset=utf-8");
	curl_easy_setopt(c, CURLOPT_URL, base);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, put);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	json_t *all = json_loads(resp, 0, NULL), *o = NULL;
	ck_assert_ptr_nonnull(all);
	const char *k;
	json_t *v;
	json_object_foreach(all, k, v) if (strcmp(k, "sign")) o = v;
	ck_assert_ptr_nonnull(o);
	const char *cd = json_string_value(json_object_get(o, "code"));
	const char *sub = json_string_value(json_object_get(o, "sub_code"));
	ck_assert_ptr_nonnull(cd);
	snprintf(code, 64, "%s", !strcmp(cd, "10000") ? "" : sub ? sub : cd);
	json_decref(all);
}

static size_t get(const char *url, char *out, size_t cap, long *status)
{
	struct sink sink = {out, 0, cap};
	out[0] = 0;
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, put);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	return sink.n;
}

static void china_now(char out[20], int64_t shift)
{
	time_t t = time(NULL) + 8 * 3600 + shift;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- core ---- */

START_TEST(precreate_registers_the_order)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	int64_t before = (int64_t)time(NULL);
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	/* The fake writes qr_code as "https:\/\/..." (slashes escaped) and signs that text: the
	 * answer verified only because wattle checked the bytes as received. */
	ck_assert(!strncmp(o.pay_url, "https://qr.alipay.com/bax", 25));
	ck_assert_ptr_null(o.pay_params);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.amount, 1234);
	ck_assert_str_eq(t.currency, "CNY");
	ck_assert_str_eq(t.mode, "precreate");
	ck_assert_str_eq(t.description, "Harbour City 商铺 A-101: electricity top-up");
	ck_assert_str_eq(t.notify_url, PUBLIC_URL "/v1/webhooks/payments/alipay");
	/* time_expire is the order's death, to the second */
	ck_assert_int_ge(t.expires_s, before + 1800);
	ck_assert_int_le(t.expires_s, (int64_t)time(NULL) + 1800);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);
	ck_assert_uint_eq(fakepay_refused(f), 0);
	/* The same order again: Alipay answers the same code. */
	struct prov_order o2;
	ck_assert_int_eq(create(no, 1234, false, &o2, &st), 0);
	ck_assert_str_eq(o2.pay_url, o.pay_url);
}
END_TEST

START_TEST(wap_url_is_signed_and_opens)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(order_no(no), 1234, true, &o, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert(!strncmp(o.pay_url, base, strlen(base)) && o.pay_url[strlen(base)] == '?');
	ck_assert_ptr_nonnull(strstr(o.pay_url, "method=alipay.trade.wap.pay"));
	/* A page method: no call was made, Alipay learns of the order when the browser opens it. */
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 0);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), -1);
	char page[8192];
	long status = 0;
	get(o.pay_url, page, sizeof page, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_ptr_nonnull(strstr(page, no));
	ck_assert_ptr_nonnull(strstr(page, "12.34"));
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_str_eq(t.mode, "wap");
	ck_assert_int_eq(t.amount, 1234);
	ck_assert_uint_eq(fakepay_refused(f), 0);
	/* The URL with a cheaper amount is not Alipay's to honour. */
	char forged[2048];
	snprintf(forged, sizeof forged, "%s", o.pay_url);
	char *a = strstr(forged, "%2212.34%22");
	ck_assert_ptr_nonnull(a);
	a[3] = '0';
	get(forged, page, sizeof page, &status);
	ck_assert_ptr_nonnull(strstr(page, "isv.invalid-signature"));
	ck_assert_uint_eq(fakepay_refused(f), 1);
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.amount, 1234);
}
END_TEST

START_TEST(query_every_state)
{
	char no[32], txn[64];
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), 0);
	/* nobody scanned the code: Alipay knows no such trade */
	ck_assert_int_eq(query(no, &st).state, TRADE_UNKNOWN);
	ck_assert_int_eq(fake_alipay_scan(f, no), 0);
	ck_assert_int_eq(query(no, &st).state, TRADE_OPEN);
	ck_assert_int_eq(fakepay_pay(f, no, txn), 0);
	struct prov_trade t = query(no, &st);
	ck_assert_int_eq(t.state, TRADE_PAID);
	ck_assert_str_eq(t.txn, txn);
	ck_assert_int_eq(t.amount_minor, 1234);
	ck_assert_str_eq(t.currency, "CNY");
	/* raw is the response object */
	struct prov_trade t2;
	ck_assert_int_eq(prov_order_query(PROV_ALIPAY, no, NULL, &t2, &st), 0);
	ck_assert_str_eq(json_string_value(json_object_get(t2.raw, "trade_status")), "TRADE_SUCCESS");
	ck_assert_str_eq(json_string_value(json_object_get(t2.raw, "trade_no")), txn);
	json_decref(t2.raw);
	/* a paid trade cannot be closed */
	ck_assert_int_eq(prov_order_close(PROV_ALIPAY, no, NULL, &st), -1);
	ck_assert_str_eq(st.code, "paid");
	ck_assert_int_eq(query(no, &st).state, TRADE_PAID);
	/* an unknown order */
	char other[32];
	ck_assert_int_eq(query(order_no(other), &st).state, TRADE_UNKNOWN);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(close_open_scanned_and_unscanned)
{
	char a[32], b[32];
	struct prov_order o;
	struct prov_status st;
	struct fake_trade t;
	/* scanned: Alipay closes it, and says so after */
	ck_assert_int_eq(create(order_no(a), 500, false, &o, &st), 0);
	ck_assert_int_eq(fake_alipay_scan(f, a), 0);
	ck_assert_int_eq(prov_order_close(PROV_ALIPAY, a, NULL, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(fakepay_trade(f, a, &t), 0);
	ck_assert_int_eq(t.state, FT_CLOSED);
	ck_assert_int_eq(query(a, &st).state, TRADE_CLOSED);
	ck_assert_int_eq(fakepay_pay(f, a, NULL), -1);
	/* closed already: still 0 (Alipay says TRADE_STATUS_ERROR; the query says closed) */
	ck_assert_int_eq(prov_order_close(PROV_ALIPAY, a, NULL, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	/* never scanned: Alipay knows no trade to close, which is fine */
	ck_assert_int_eq(create(order_no(b), 500, false, &o, &st), 0);
	ck_assert_int_eq(prov_order_close(PROV_ALIPAY, b, NULL, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(fakepay_calls(f, FC_CLOSE), 3);
}
END_TEST

START_TEST(refund_full_partial_refused_and_once)
{
	char no[32], txn[64];
	struct prov_refund r;
	struct prov_status st;
	struct fake_trade t;
	paid(order_no(no), 1000, txn);
	ck_assert_int_eq(refund(no, txn, "rf1", 300, 1000, &r, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	ck_assert_str_eq(r.refund_ref, "rf1");
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.refunded, 300);
	/* asked again with the same out_request_no: refunded once; nothing moved this time */
	ck_assert_int_eq(refund(no, txn, "rf1", 300, 1000, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_PENDING);
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.refunded, 300);
	ck_assert_int_eq(refund_state(no, txn, "rf1"), REFUND_SUCCEEDED);
	/* more than is left */
	ck_assert_int_eq(refund(no, txn, "rf2", 701, 1000, &r, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL");
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.refunded, 300);
	/* a refund Alipay never made */
	ck_assert_int_eq(refund_state(no, txn, "rf2"), REFUND_PENDING);
	/* the rest: the trade is refunded in full, and Alipay then says TRADE_CLOSED */
	ck_assert_int_eq(refund(no, txn, "rf3", 700, 1000, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.refunded, 1000);
	ck_assert_int_eq(query(no, &st).state, TRADE_CLOSED);
	/* a trade not paid cannot be refunded */
	char open[32];
	struct prov_order o;
	ck_assert_int_eq(create(order_no(open), 100, false, &o, &st), 0);
	ck_assert_int_eq(fake_alipay_scan(f, open), 0);
	ck_assert_int_eq(refund(open, NULL, "rf4", 100, 100, &r, &st), -1);
	ck_assert_str_eq(st.code, "ACQ.TRADE_STATUS_ERROR");
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(refund_pending_then_settled)
{
	char no[32], txn[64];
	struct prov_refund r;
	struct prov_status st;
	paid(order_no(no), 1000, txn);
	pthread_mutex_lock(&f->mu);
	f->refund_pending = true;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(refund(no, txn, "rfp", 1000, 1000, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_PENDING);
	ck_assert_int_eq(refund_state(no, txn, "rfp"), REFUND_PENDING);
	ck_assert_int_eq(fakepay_refund_settle(f, true), 1);
	ck_assert_int_eq(refund_state(no, txn, "rfp"), REFUND_SUCCEEDED);
}
END_TEST

static const struct prov_bill_line *find_line(const struct prov_bill_line *l, size_t n, const char *out_trade_no,
					      bool refund)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].out_trade_no, out_trade_no) && l[i].refund == refund)
			return &l[i];
	return NULL;
}

START_TEST(bill_of_a_day)
{
	char a[32], b[32], c[32], ta[64], tb[64], tc[64];
	struct prov_refund r;
	struct prov_status st;
	paid(order_no(a), 1234, ta);
	paid(order_no(b), 2000, tb);
	paid(order_no(c), 3000, tc);
	ck_assert_int_eq(refund(a, ta, "rfa", 500, 1234, &r, &st), 0);
	char today[20];
	china_now(today, 0);
	today[10] = 0;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < f->ntrades; i++) {
		if (!strcmp(f->trades[i].out_trade_no, b))
			f->trades[i].bill_amount = 1999;
		if (!strcmp(f->trades[i].out_trade_no, c))
			f->trades[i].bill_hide = true;
	}
	struct fake_bill_extra *x = &f->extras[f->nextras++];
	snprintf(x->date, sizeof x->date, "%.10s", today);
	snprintf(x->txn, sizeof x->txn, "2026EXTRA0001");
	snprintf(x->out_trade_no, sizeof x->out_trade_no, "EXT0001");
	x->amount = 777;
	x->at_s = (int64_t)time(NULL) - 60;
	int64_t extra_at = x->at_s;
	pthread_mutex_unlock(&f->mu);
	struct fake_trade fa;
	ck_assert_int_eq(fakepay_trade(f, a, &fa), 0);

	struct prov_bill_line *l = NULL;
	size_t n = 0;
	ck_assert_int_eq(prov_bill(PROV_ALIPAY, today, 0, 0, &l, &n, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(n, 4);
	const struct prov_bill_line *p = find_line(l, n, a, false);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->txn, ta);
	ck_assert_int_eq(p->amount_minor, 1234);
	ck_assert_str_eq(p->currency, "CNY");
	ck_assert_int_eq(p->at_s, fa.paid_s);
	p = find_line(l, n, a, true);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->txn, ta);
	ck_assert_int_eq(p->amount_minor, 500);
	ck_assert_str_eq(p->refund_ref, "rfa");
	p = find_line(l, n, b, false);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->amount_minor, 1999);
	ck_assert_ptr_null(find_line(l, n, c, false));
	p = find_line(l, n, "EXT0001", false);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->txn, "2026EXTRA0001");
	ck_assert_int_eq(p->amount_minor, 777);
	ck_assert_int_eq(p->at_s, extra_at);
	free(l);
	ck_assert_uint_eq(fakepay_calls(f, FC_BILL), 1);
	ck_assert_uint_eq(fakepay_refused(f), 0);
	/* the download URL's token is the fake's: another one downloads nothing */
	char url[512], body[8192];
	long status = 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/downloadBillFile.resource?bizType=trade&bizDates=%s&expires=%lld"
		 "&token=AAAA", f->port, today, (long long)time(NULL) + 30);
	get(url, body, sizeof body, &status);
	ck_assert_int_eq(status, 403);
	ck_assert_uint_eq(fakepay_refused(f), 1);
	/* a day without a trade has no bill at Alipay: no lines */
	ck_assert_int_eq(prov_bill(PROV_ALIPAY, "2020-01-01", 0, 0, &l, &n, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(n, 0);
	free(l);
}
END_TEST

/* ---- what the fake refuses, and what wattle refuses ---- */

START_TEST(fake_refuses_another_key)
{
	api_payments_stop();
	start_payments(other_pem, 3000);
	char no[32];
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "isv.invalid-signature");
	ck_assert_uint_eq(fakepay_refused(f), 1);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 0);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), -1);
}
END_TEST

START_TEST(fake_checks_the_common_parameters)
{
	char ts[20], stale[20], code[64];
	china_now(ts, 0);
	china_now(stale, -3600);
	const char *biz = "{\"out_trade_no\":\"HAND0001\",\"total_amount\":\"1.00\",\"subject\":\"top-up\"}";
#define PARAMS(ts_, type_, app_)                                                                                \
	struct kv ps[] = {{"app_id", app_}, {"method", "alipay.trade.precreate"}, {"format", "JSON"},          \
			  {"charset", "utf-8"}, {"sign_type", type_}, {"timestamp", ts_}, {"version", "1.0"},    \
			  {"biz_content", biz}};                                                                  \
	size_t np = sizeof ps / sizeof *ps
	{ /* the control: a well-made request is taken */
		PARAMS(ts, "RSA2", APP_ID);
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "");
		ck_assert_uint_eq(fakepay_refused(f), 0);
	}
	{
		PARAMS(ts, "RSA2", APP_ID);
		post_form(ps, np, other_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-signature");
	}
	{ /* changed after signing */
		PARAMS(ts, "RSA2", APP_ID);
		post_form(ps, np, app_key, "biz_content",
			  "{\"out_trade_no\":\"HAND0001\",\"total_amount\":\"0.01\",\"subject\":\"top-up\"}", code);
		ck_assert_str_eq(code, "isv.invalid-signature");
	}
	{
		PARAMS(ts, "RSA2", APP_ID);
		post_form(ps, np - 3, app_key, NULL, NULL, code); /* without timestamp, version, biz_content */
		ck_assert_str_eq(code, "isv.missing-timestamp");
	}
	{
		PARAMS(stale, "RSA2", APP_ID);
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-timestamp");
	}
	{
		PARAMS(ts, "RSA", APP_ID);
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-signature-type");
	}
	{
		PARAMS(ts, "RSA2", "2021000000000999");
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-app-id");
	}
	{
		PARAMS(ts, "RSA2", APP_ID);
		ps[7].v = "{\"out_trade_no\":\"HAND0002\",\"total_amount\":\"1.005\",\"subject\":\"top-up\"}";
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-parameter");
	}
	{
		PARAMS(ts, "RSA2", APP_ID);
		ps[7].v = "{\"out_trade_no\":\"HAND0003\",\"subject\":\"top-up\"}";
		post_form(ps, np, app_key, NULL, NULL, code);
		ck_assert_str_eq(code, "isv.invalid-parameter");
	}
#undef PARAMS
	ck_assert_uint_eq(fakepay_refused(f), 8);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);
}
END_TEST

START_TEST(answer_signed_with_another_key)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	pthread_mutex_lock(&f->mu);
	f->bad_answer_sig = true;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_str_eq(o.pay_url, "");
	struct prov_trade t;
	ck_assert_int_eq(prov_order_query(PROV_ALIPAY, no, NULL, &t, &st), -1);
	ck_assert_str_eq(st.code, "bad_signature");
	ck_assert_ptr_null(t.raw);
}
END_TEST

START_TEST(slow_answer_times_out)
{
	api_payments_stop();
	start_payments(app_pem, 300);
	pthread_mutex_lock(&f->mu);
	f->delay_ms = 1200;
	pthread_mutex_unlock(&f->mu);
	char no[32];
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_TIMEOUT);
	ck_assert_str_eq(st.code, "timeout");
	pthread_mutex_lock(&f->mu);
	f->delay_ms = 0;
	pthread_mutex_unlock(&f->mu);
	usleep(1200 * 1000); /* let the slow answer finish before the fake stops */
}
END_TEST

START_TEST(refused_create)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	pthread_mutex_lock(&f->mu);
	snprintf(f->refuse_create, sizeof f->refuse_create, "ACQ.ACCESS_FORBIDDEN");
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(create(order_no(no), 1234, false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "ACQ.ACCESS_FORBIDDEN");
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), -1);
}
END_TEST

/* ---- limits ---- */

START_TEST(amounts_convert_exactly)
{
	/* Alipay takes [0.01, 100000000.00] yuan */
	static const int64_t amounts[] = {1, 10, 100, 101, 99999, INT64_C(10000000000)};
	for (size_t i = 0; i < sizeof amounts / sizeof *amounts; i++) {
		char no[32], txn[64];
		paid(order_no(no), amounts[i], txn);
		struct fake_trade t;
		ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
		ck_assert_int_eq(t.amount, amounts[i]);
		struct prov_status st;
		ck_assert_int_eq(query(no, &st).amount_minor, amounts[i]);
	}
	char no[32];
	struct prov_order o;
	struct prov_status st;
	ck_assert_int_eq(create(order_no(no), 0, false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_int_eq(create(order_no(no), INT64_C(10000000001), false, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "isv.invalid-parameter");
	ck_assert_uint_eq(fakepay_refused(f), 1);
	int64_t now = (int64_t)time(NULL);
	struct prov_order_req rq = {.out_trade_no = no, .amount_minor = 100, .currency = "USD", .description = "x",
				    .expires_s = now + 60, .now_s = now};
	ck_assert_int_eq(prov_order_create(PROV_ALIPAY, &rq, &o, &st), -1);
	ck_assert_str_eq(st.code, "unsupported_currency");
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), sizeof amounts / sizeof *amounts);
}
END_TEST

START_TEST(code_dies_with_the_order)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	int64_t now = (int64_t)time(NULL);
	struct prov_order_req rq = {.out_trade_no = order_no(no), .amount_minor = 100, .currency = "CNY",
				    .description = "top-up", .expires_s = now + 2, .now_s = now};
	ck_assert_int_eq(prov_order_create(PROV_ALIPAY, &rq, &o, &st), 0);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, no, &t), 0);
	ck_assert_int_eq(t.expires_s, now + 2);
	ck_assert_int_eq(fake_alipay_scan(f, no), 0);
	ck_assert_int_eq(query(no, &st).state, TRADE_OPEN);
	sleep(3);
	ck_assert_int_eq(query(no, &st).state, TRADE_CLOSED);
	ck_assert_int_eq(fakepay_pay(f, no, NULL), -1);
	ck_assert_int_eq(prov_order_close(PROV_ALIPAY, no, NULL, &st), 0);
}
END_TEST

START_TEST(wap_url_fits_a_chinese_subject)
{
	char no[32];
	struct prov_order o;
	struct prov_status st;
	int64_t now = (int64_t)time(NULL);
	struct prov_order_req rq = {.out_trade_no = order_no(no), .amount_minor = 5000, .currency = "CNY",
				    .description = "海港城购物中心 三楼 A-301 号商铺: 电费充值", .expires_s = now + 1800,
				    .now_s = now, .h5 = true};
	int rc = prov_order_create(PROV_ALIPAY, &rq, &o, &st);
	fprintf(stderr, "wap pay URL: %zu bytes\n", strlen(o.pay_url));
	ck_assert_int_eq(rc, 0);
	char page[8192];
	long status = 0;
	get(o.pay_url, page, sizeof page, &status);
	ck_assert_ptr_nonnull(strstr(page, "电费充值"));
	/* the longest description an order makes: a tenant name of 90 bytes (30 Chinese
	 * characters) and ": electricity top-up" (a 1024-byte URL did not hold 26) */
	char desc[160] = "";
	for (int i = 0; i < 30; i++)
		strcat(desc, "海");
	strcat(desc, ": electricity top-up");
	rq.description = desc;
	rq.out_trade_no = order_no(no);
	ck_assert_int_eq(prov_order_create(PROV_ALIPAY, &rq, &o, &st), 0);
	ck_assert_uint_gt(strlen(o.pay_url), 1024);
	get(o.pay_url, page, sizeof page, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	Suite *s = suite_create("prov_alipay");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 60);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, precreate_registers_the_order);
	tcase_add_test(core, wap_url_is_signed_and_opens);
	tcase_add_test(core, query_every_state);
	tcase_add_test(core, close_open_scanned_and_unscanned);
	tcase_add_test(core, refund_full_partial_refused_and_once);
	tcase_add_test(core, refund_pending_then_settled);
	tcase_add_test(core, bill_of_a_day);
	tcase_add_test(core, fake_refuses_another_key);
	tcase_add_test(core, fake_checks_the_common_parameters);
	tcase_add_test(core, answer_signed_with_another_key);
	tcase_add_test(core, slow_answer_times_out);
	tcase_add_test(core, refused_create);
	suite_add_tcase(s, core);
	TCase *limits = tcase_create("limits");
	tcase_set_timeout(limits, 60);
	tcase_add_checked_fixture(limits, setup, teardown);
	tcase_add_test(limits, amounts_convert_exactly);
	tcase_add_test(limits, code_dies_with_the_order);
	tcase_add_test(limits, wap_url_fits_a_chinese_subject);
	suite_add_tcase(s, limits);
	return th_run(s);
}
