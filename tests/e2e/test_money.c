/* test_money.c: money in and out with the providers, for real (issue 15): the real server
 * over real HTTP calls local fakes of WeChat Pay v3, Alipay and Stripe (tests/support/
 * fakepay), which check what the real providers check. Orders made at the provider, a
 * notification that never comes (the query credits), a notification and a query racing
 * (credit once), a provider timing out or refusing on creation, an expired order closed,
 * refunds partial, full, pending and refused, and a reconciliation with every kind of
 * difference. Each provider test runs for every provider. */
#include "harness.h"
#include "fakepay.h"

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define APIV3 "0123456789abcdef0123456789abcdef"
#define MCHID "1900000109"
#define WX_APPID "wx8888888888888888"
#define MERCHANT_SERIAL "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
#define PLATFORM_SERIAL "3775B6A45ACD588826D15E583A95F5DD3BB1C6E5"
#define ALI_APPID "2021000000000001"
#define SK "sk_test_wattle_4eC39HqLyjWDarjtT1zdp7dc"
#define WHSEC "whsec_wattle_test"

static const char *const providers[] = {"wechat", "alipay", "stripe"};
static EVP_PKEY *wx_merchant, *wx_platform, *ali_app, *ali_alipay;
static char pem[4][64];
static struct fakepay *fk[3];
static struct th_server srv;
static char *db, *fin;

static long long q(const char *sql) { return th_sql_int(db, sql); }

static void write_key(EVP_PKEY *k, const char *path, bool private)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k), 1);
	fclose(f);
}

/* The environment pointing wattle at the fakes, plus extra (NULL-terminated). */
static const char **env_with(const char *const *extra)
{
	static char buf[24][256];
	static const char *env[40];
	int n = 0, e = 0;
	char base[128];
#define PUT(...) (snprintf(buf[n], sizeof buf[n], __VA_ARGS__), env[e++] = buf[n++])
	PUT("WATTLE_WECHAT_APIV3_KEY=%s", APIV3);
	PUT("WATTLE_WECHAT_PLATFORM_PUBKEY=%s", pem[1]);
	PUT("WATTLE_WECHAT_PLATFORM_SERIAL=%s", PLATFORM_SERIAL);
	PUT("WATTLE_WECHAT_MCHID=%s", MCHID);
	PUT("WATTLE_WECHAT_APPID=%s", WX_APPID);
	PUT("WATTLE_WECHAT_MERCHANT_KEY=%s", pem[0]);
	PUT("WATTLE_WECHAT_MERCHANT_SERIAL=%s", MERCHANT_SERIAL);
	PUT("WATTLE_WECHAT_API_BASE=%s", fakepay_base(fk[0], base, sizeof base));
	PUT("WATTLE_ALIPAY_PUBKEY=%s", pem[3]);
	PUT("WATTLE_ALIPAY_APP_ID=%s", ALI_APPID);
	PUT("WATTLE_ALIPAY_APP_PRIVATE_KEY=%s", pem[2]);
	PUT("WATTLE_ALIPAY_GATEWAY=%s", fakepay_base(fk[1], base, sizeof base));
	PUT("WATTLE_STRIPE_WEBHOOK_SECRET=%s", WHSEC);
	PUT("WATTLE_STRIPE_SECRET_KEY=%s", SK);
	PUT("WATTLE_STRIPE_API_BASE=%s", fakepay_base(fk[2], base, sizeof base));
	PUT("WATTLE_PUBLIC_URL=https://wattle.example");
	PUT("WATTLE_PAY_QUERY_AFTER_S=1");
	PUT("WATTLE_PAY_TIMEOUT_MS=3000");
	PUT("WATTLE_RECONCILE_HOUR=24");
#undef PUT
	for (int i = 0; extra && extra[i]; i++)
		env[e++] = extra[i];
	env[e] = NULL;
	return env;
}

static void start(const char *const *extra)
{
	db = th_fresh_db();
	th_server_start(&srv, db, env_with(extra));
	fin = th_key(&srv, "finance", NULL);
	json_decref(th_ok(&srv, "POST", "/v1/sites", srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	for (int i = 1; i <= 2; i++) {
		char body[300];
		snprintf(body, sizeof body,
			 "{\"site_id\":\"site_1\",\"name\":\"Shop %d\",\"category\":\"retail\",\"area_m2\":\"50\","
			 "\"credit_rating\":\"B\",\"phone\":\"+861380013800%d\"}", i, i);
		json_decref(th_ok(&srv, "POST", "/v1/tenants", fin, body, 201));
	}
}

static void setup_keys(void)
{
	wx_merchant = EVP_RSA_gen(2048);
	wx_platform = EVP_RSA_gen(2048);
	ali_app = EVP_RSA_gen(2048);
	ali_alipay = EVP_RSA_gen(2048);
	static const char *const names[] = {"wxm", "wxp", "alia", "alip"};
	for (int i = 0; i < 4; i++)
		snprintf(pem[i], sizeof pem[i], "/tmp/wattle-money-%s-%d.pem", names[i], (int)getpid());
	write_key(wx_merchant, pem[0], true);
	write_key(wx_platform, pem[1], false);
	write_key(ali_app, pem[2], true);
	write_key(ali_alipay, pem[3], false);
	struct fakepay_keys wk = {wx_merchant, wx_platform, MCHID, WX_APPID, MERCHANT_SERIAL, PLATFORM_SERIAL, NULL};
	struct fakepay_keys ak = {ali_app, ali_alipay, NULL, ALI_APPID, NULL, NULL, NULL};
	struct fakepay_keys sk = {NULL, NULL, NULL, NULL, NULL, NULL, SK};
	ck_assert_ptr_nonnull(fk[0] = fakepay_start("wechat", &wk));
	ck_assert_ptr_nonnull(fk[1] = fakepay_start("alipay", &ak));
	ck_assert_ptr_nonnull(fk[2] = fakepay_start("stripe", &sk));
}

static void setup(void)
{
	setup_keys();
	start(NULL);
}

static void teardown(void)
{
	if (srv.pid)
		ck_assert_int_eq(th_server_stop(&srv), 0);
	th_assert_ledger_invariant(db);
	for (int i = 0; i < 3; i++) {
		fakepay_stop(fk[i]);
		fk[i] = NULL;
	}
	for (int i = 0; i < 4; i++)
		unlink(pem[i]);
	EVP_PKEY_free(wx_merchant);
	EVP_PKEY_free(wx_platform);
	EVP_PKEY_free(ali_app);
	EVP_PKEY_free(ali_alipay);
	free(fin);
	free(db);
}

static long long balance(const char *tenant)
{
	char path[64];
	snprintf(path, sizeof path, "/v1/tenants/%s/account", tenant);
	json_t *a = th_ok(&srv, "GET", path, fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

/* Wait up to ms for sql to count want. */
static long long wait_count(const char *sql, long long want, int ms)
{
	long long v = q(sql);
	for (int waited = 0; v != want && waited < ms; waited += 100) {
		usleep(100000);
		v = q(sql);
	}
	return v;
}

/* Make an order of amount for tenant at provider; its out_trade_no into otn, its id into id. */
static json_t *order(const char *tenant, const char *provider, long long amount, char otn[64], char id[32])
{
	char body[256];
	snprintf(body, sizeof body, "{\"tenant_id\":\"%s\",\"amount_minor\":%lld,\"provider\":\"%s\"}", tenant, amount,
		 provider);
	json_t *o = th_ok(&srv, "POST", "/v1/topup-orders", fin, body, 201);
	snprintf(otn, 64, "%s", json_string_value(json_object_get(o, "out_trade_no")));
	snprintf(id, 32, "%s", json_string_value(json_object_get(o, "id")));
	return o;
}

static char *order_status(const char *id)
{
	char path[64];
	snprintf(path, sizeof path, "/v1/topup-orders/%s", id);
	json_t *o = th_ok(&srv, "GET", path, fin, NULL, 200);
	char *s = strdup(json_string_value(json_object_get(o, "status")));
	json_decref(o);
	return s;
}

static struct th_resp stripe_send(const char *body)
{
	char msg[8192], hex[65], h[256];
	long t = (long)time(NULL);
	int n = snprintf(msg, sizeof msg, "%ld.%s", t, body);
	unsigned char mac[32];
	unsigned ml;
	HMAC(EVP_sha256(), WHSEC, (int)strlen(WHSEC), (unsigned char *)msg, (size_t)n, mac, &ml);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	snprintf(h, sizeof h, "Stripe-Signature: t=%ld,v1=%s", t, hex);
	const char *hdrs[] = {h, NULL};
	return th_req(&srv, "POST", "/v1/webhooks/payments/stripe", NULL, body, hdrs);
}

/* ---- orders ---- */

START_TEST(order_made_at_the_provider_and_a_missed_notification_credited_by_query)
{
	const char *p = providers[_i];
	char otn[64], id[32];
	json_t *o = order("ten_1", p, 1234, otn, id);
	/* the pay_url is the provider's, and the QR code encodes it */
	const char *url = json_string_value(json_object_get(o, "pay_url"));
	ck_assert_ptr_nonnull(url);
	ck_assert(strlen(url) > 8);
	ck_assert_ptr_null(strstr(url, "wattle.invalid"));
	ck_assert_ptr_nonnull(json_string_value(json_object_get(o, "qr_svg")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "open");
	json_decref(o);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(fk[_i], otn, &t), 0);
	ck_assert_int_eq(t.amount, 1234);
	ck_assert_int_eq(fakepay_refused(fk[_i]), 0);
	/* the tenant pays; the provider's notification never comes */
	char txn[64];
	ck_assert_int_eq(fakepay_pay(fk[_i], otn, txn), 0);
	ck_assert_int_eq(wait_count("SELECT count(*) FROM payments WHERE status = 'credited'", 1, 15000), 1);
	ck_assert_int_eq(balance("ten_1"), 1234);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM payments WHERE provider_txn_id = '%s' AND amount_minor = 1234", txn);
	ck_assert_int_eq(q(sql), 1);
	char *st = order_status(id);
	ck_assert_str_eq(st, "paid");
	free(st);
	ck_assert_uint_ge(fakepay_calls(fk[_i], FC_QUERY), 1);
	/* asked no more once paid */
	unsigned asked = fakepay_calls(fk[_i], FC_QUERY);
	sleep(3);
	ck_assert_uint_eq(fakepay_calls(fk[_i], FC_QUERY), asked);
	struct th_resp r = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	char want[128];
	snprintf(want, sizeof want, "wattle_payment_queries_total{provider=\"%s\",outcome=\"paid\"} 1", p);
	ck_assert_msg(strstr(r.body, want), "%s", want);
	th_resp_free(&r);
}
END_TEST

struct race_arg {
	const char *otn, *txn;
};

static void *notify(void *arg)
{
	struct race_arg *a = arg;
	char ev[512];
	snprintf(ev, sizeof ev, "{\"id\":\"evt_%s\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":"
		 "{\"id\":\"%s\",\"amount_received\":700,\"currency\":\"cny\",\"metadata\":{\"out_trade_no\":\"%s\"}}}}",
		 a->txn, a->txn, a->otn);
	struct th_resp r = stripe_send(ev);
	long status = r.status;
	th_resp_free(&r);
	return (void *)(long)status;
}

/* A metric's value from /metrics (0 when absent). */
static long long metric(const char *line_prefix)
{
	struct th_resp r = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	const char *at = strstr(r.body, line_prefix);
	long long v = at ? atoll(at + strlen(line_prefix)) : 0;
	th_resp_free(&r);
	return v;
}

START_TEST(notification_and_query_racing_credit_once)
{
	/* Twelve paid orders: the even ones' notifications arrive while the worker is querying
	 * them, the odd ones' after the query credited them. */
	enum { N = 12 };
	char otn[N][64], id[N][32], txn[N][64];
	for (int i = 0; i < N; i++) {
		json_decref(order(i % 2 ? "ten_2" : "ten_1", "stripe", 700, otn[i], id[i]));
		ck_assert_int_eq(fakepay_pay(fk[2], otn[i], txn[i]), 0);
	}
	usleep(900000); /* the first query is due at 1 s */
	pthread_t th[N];
	struct race_arg a[N];
	for (int i = 0; i < N; i += 2) {
		a[i] = (struct race_arg){otn[i], txn[i]};
		pthread_create(&th[i], NULL, notify, &a[i]);
	}
	for (int i = 0; i < N; i += 2) {
		void *rc;
		pthread_join(th[i], &rc);
		ck_assert_int_eq((long)rc, 200);
	}
	ck_assert_int_eq(wait_count("SELECT count(*) FROM topup_orders WHERE status = 'paid'", N, 10000), N);
	for (int i = 1; i < N; i += 2) {
		a[i] = (struct race_arg){otn[i], txn[i]};
		ck_assert_int_eq((long)notify(&a[i]), 200);
	}
	sleep(2); /* any query still in flight lands */
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), N);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'topup'"), N);
	ck_assert_int_eq(balance("ten_1"), 700 * N / 2);
	ck_assert_int_eq(balance("ten_2"), 700 * N / 2);
	/* both paths ran: the query credited the odd ones at least, and their notifications
	 * found them recorded */
	long long by_query = metric("wattle_payment_queries_total{provider=\"stripe\",outcome=\"paid\"} ");
	long long replays = metric("wattle_payment_notifications_total{provider=\"stripe\",outcome=\"replay\"} ");
	long long credited = metric("wattle_payment_notifications_total{provider=\"stripe\",outcome=\"credited\"} ");
	ck_assert_int_ge(by_query, N / 2);
	ck_assert_int_ge(replays, N / 2);
	ck_assert_int_eq(credited + replays, N);
}
END_TEST

START_TEST(provider_timing_out_or_refusing_leaves_the_order_failed)
{
	const char *p = providers[_i];
	char body[256];
	snprintf(body, sizeof body, "{\"tenant_id\":\"ten_1\",\"amount_minor\":500,\"provider\":\"%s\"}", p);
	/* refused: 502 with the provider's code, nothing to ask about afterwards */
	pthread_mutex_lock(&fk[_i]->mu);
	snprintf(fk[_i]->refuse_create, sizeof fk[_i]->refuse_create, "%s",
		 _i == 0 ? "NO_AUTH" : _i == 1 ? "ACQ.ACCESS_FORBIDDEN" : "account_invalid");
	pthread_mutex_unlock(&fk[_i]->mu);
	struct th_resp r = th_req(&srv, "POST", "/v1/topup-orders", fin, body, NULL);
	ck_assert_int_eq(r.status, 502);
	ck_assert_str_eq(th_err(&r), "provider_error");
	ck_assert_msg(strstr(r.body, fk[_i]->refuse_create), "%s", r.body);
	th_resp_free(&r);
	pthread_mutex_lock(&fk[_i]->mu);
	fk[_i]->refuse_create[0] = 0;
	pthread_mutex_unlock(&fk[_i]->mu);
	ck_assert_int_eq(q("SELECT count(*) FROM topup_orders WHERE status = 'failed' AND next_query_at IS NULL"), 1);
	/* no answer in time (WATTLE_PAY_TIMEOUT_MS 3000: a loaded machine answers 1.5 s late): 504; the order is failed, and closed
	 * with the provider so that the code it may have made can never be paid */
	pthread_mutex_lock(&fk[_i]->mu);
	fk[_i]->delay_ms = 5000;
	pthread_mutex_unlock(&fk[_i]->mu);
	r = th_req(&srv, "POST", "/v1/topup-orders", fin, body, NULL);
	ck_assert_int_eq(r.status, 504);
	ck_assert_str_eq(th_err(&r), "provider_timeout");
	th_resp_free(&r);
	pthread_mutex_lock(&fk[_i]->mu);
	fk[_i]->delay_ms = 0;
	pthread_mutex_unlock(&fk[_i]->mu);
	ck_assert_int_eq(balance("ten_1"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM topup_orders WHERE status = 'failed'"), 2);
	if (_i != 2) { /* Stripe: the session id never came back; nothing can be closed by number */
		ck_assert_int_eq(wait_count("SELECT count(*) FROM topup_orders WHERE closed_at IS NOT NULL", 1, 15000), 1);
		ck_assert_uint_ge(fakepay_calls(fk[_i], FC_CLOSE) + fakepay_calls(fk[_i], FC_QUERY), 1);
	}
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), 0);
}
END_TEST

START_TEST(expired_order_closed_at_the_provider)
{
	ck_assert_int_eq(th_server_stop(&srv), 0);
	const char *extra[] = {"WATTLE_TOPUP_ORDER_TTL_S=2", NULL};
	th_server_start(&srv, db, env_with(extra));
	const char *p = providers[_i];
	char otn[64], id[32];
	json_decref(order("ten_2", p, 800, otn, id));
	ck_assert_int_eq(wait_count("SELECT count(*) FROM topup_orders WHERE status = 'closed'", 1, 15000), 1);
	ck_assert_int_eq(fakepay_pay(fk[_i], otn, NULL), -1); /* it can no longer be paid */
	char *st = order_status(id);
	ck_assert_str_eq(st, "closed");
	free(st);
	if (_i == 2) { /* Stripe took no expires_at under 30 minutes: wattle expired the session */
		struct fake_trade t;
		ck_assert_int_eq(fakepay_trade(fk[_i], otn, &t), 0);
		ck_assert_int_eq(t.state, FT_CLOSED);
		ck_assert_uint_ge(fakepay_calls(fk[_i], FC_CLOSE), 1);
	}
}
END_TEST

/* ---- refunds ---- */

/* A credited payment of amount for ten_1 at provider i: its id into pay, the provider's into
 * txn (may be NULL). */
static void paid(int i, long long amount, char pay[32], char *txn)
{
	char otn[64], id[32], t[64];
	json_decref(order("ten_1", providers[i], amount, otn, id));
	ck_assert_int_eq(fakepay_pay(fk[i], otn, t), 0);
	ck_assert_int_eq(wait_count("SELECT count(*) FROM payments WHERE status = 'credited'", 1, 15000), 1);
	snprintf(pay, 32, "pay_%lld", q("SELECT max(id) FROM payments"));
	if (txn)
		snprintf(txn, 64, "%s", t);
}

static struct th_resp refund(const char *pay, long long amount, const char *key)
{
	char body[256], h[128];
	snprintf(body, sizeof body, "{\"payment_id\":\"%s\",\"amount_minor\":%lld,\"reason\":\"meter read twice\"}", pay,
		 amount);
	snprintf(h, sizeof h, "Idempotency-Key: %s", key);
	const char *hdrs[] = {h, NULL};
	return th_req(&srv, "POST", "/v1/refunds", fin, body, key ? hdrs : NULL);
}

START_TEST(refunds_partial_full_and_refused)
{
	char pay[32];
	paid(_i, 1000, pay, NULL);
	ck_assert_int_eq(balance("ten_1"), 1000);
	/* without an Idempotency-Key: refused, nobody called */
	struct th_resp r = refund(pay, 300, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	ck_assert_uint_eq(fakepay_calls(fk[_i], FC_REFUND), 0);
	/* part of it: the provider refunds at once; the debit is posted once */
	r = refund(pay, 300, "rf-a");
	ck_assert_int_eq(r.status, 202);
	json_t *j = json_loads(r.body, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "succeeded");
	char rid[32];
	snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(j, "id")));
	json_decref(j);
	th_resp_free(&r);
	ck_assert_int_eq(balance("ten_1"), 700);
	/* the same key again: the same refund, the provider asked once */
	r = refund(pay, 300, "rf-a");
	ck_assert_int_eq(r.status, 202);
	ck_assert(strstr(r.body, rid));
	th_resp_free(&r);
	ck_assert_uint_eq(fakepay_calls(fk[_i], FC_REFUND), 1);
	/* more than is left: 422, nobody called */
	r = refund(pay, 701, "rf-b");
	ck_assert_int_eq(r.status, 422);
	ck_assert(strstr(r.body, "\"available_minor\":700"));
	th_resp_free(&r);
	ck_assert_uint_eq(fakepay_calls(fk[_i], FC_REFUND), 1);
	/* more than the balance allows: 422, nobody called */
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/adjustments", fin,
			  "{\"amount_minor\":-500,\"reason\":\"energy\"}", 201));
	r = refund(pay, 300, "rf-c");
	ck_assert_int_eq(r.status, 422);
	ck_assert(strstr(r.body, "\"reason\":\"balance\""));
	th_resp_free(&r);
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/adjustments", fin,
			  "{\"amount_minor\":500,\"reason\":\"energy reversed\"}", 201));
	/* the rest: full */
	r = refund(pay, 700, "rf-d");
	ck_assert_int_eq(r.status, 202);
	ck_assert(strstr(r.body, "\"state\":\"succeeded\""));
	th_resp_free(&r);
	ck_assert_int_eq(balance("ten_1"), 0);
	r = refund(pay, 1, "rf-e");
	ck_assert_int_eq(r.status, 422);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'"), 2);
	ck_assert_int_eq(q("SELECT refunded_minor FROM payments"), 1000);
	char path[64];
	snprintf(path, sizeof path, "/v1/refunds/%s", rid);
	j = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "amount_minor")), 300);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "provider_refund_id")));
	json_decref(j);
	j = th_ok(&srv, "GET", "/v1/refunds?tenant_id=ten_1&state=succeeded", fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "items")), 2);
	json_decref(j);
}
END_TEST

START_TEST(refund_pending_then_confirmed_once)
{
	char pay[32], txn[64];
	paid(_i, 900, pay, txn);
	pthread_mutex_lock(&fk[_i]->mu);
	fk[_i]->refund_pending = true;
	pthread_mutex_unlock(&fk[_i]->mu);
	struct th_resp r = refund(pay, 400, "rf-p");
	ck_assert_int_eq(r.status, 202);
	ck_assert_msg(strstr(r.body, "\"state\":\"pending\""), "%s", r.body);
	th_resp_free(&r);
	ck_assert_int_eq(balance("ten_1"), 900); /* nothing posted before the provider confirms */
	/* while pending, its amount is held */
	r = refund(pay, 501, "rf-q");
	ck_assert_int_eq(r.status, 422);
	th_resp_free(&r);
	ck_assert_int_eq(fakepay_refund_settle(fk[_i], true), 1);
	if (_i == 2) {
		/* Stripe's charge.refunded (the total refunded so far) may come before the worker's
		 * query: it settles the pending refund, and the query then finds it settled */
		char ev[512];
		snprintf(ev, sizeof ev, "{\"id\":\"evt_r1\",\"type\":\"charge.refunded\",\"data\":{\"object\":"
			 "{\"id\":\"ch_1\",\"payment_intent\":\"%s\",\"amount_refunded\":400,\"currency\":\"cny\"}}}", txn);
		r = stripe_send(ev);
		ck_assert_int_eq(r.status, 200);
		th_resp_free(&r);
	}
	ck_assert_int_eq(wait_count("SELECT count(*) FROM refunds WHERE state = 'succeeded'", 1, 15000), 1);
	ck_assert_int_eq(balance("ten_1"), 500);
	sleep(2); /* the worker's query (or a second report) lands and posts nothing more */
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'"), 1);
	ck_assert_int_eq(q("SELECT refunded_minor FROM payments"), 400);
	ck_assert_int_eq(balance("ten_1"), 500);
}
END_TEST

/* Stripe's charge.refunded for payment txn: the total refunded so far. */
static long charge_refunded(const char *txn, long long total, const char *evt)
{
	char ev[512];
	snprintf(ev, sizeof ev, "{\"id\":\"%s\",\"type\":\"charge.refunded\",\"data\":{\"object\":"
		 "{\"id\":\"ch_1\",\"payment_intent\":\"%s\",\"amount_refunded\":%lld,\"currency\":\"cny\"}}}",
		 evt, txn, total);
	struct th_resp r = stripe_send(ev);
	long status = r.status;
	th_resp_free(&r);
	return status;
}

START_TEST(a_total_refunded_over_two_pending_refunds_debits_them_once)
{
	char pay[32], txn[64];
	paid(2, 1000, pay, txn);
	pthread_mutex_lock(&fk[2]->mu);
	fk[2]->refund_pending = true;
	pthread_mutex_unlock(&fk[2]->mu);
	struct th_resp r = refund(pay, 300, "two-a");
	ck_assert_int_eq(r.status, 202);
	th_resp_free(&r);
	r = refund(pay, 200, "two-b");
	ck_assert_int_eq(r.status, 202);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM refunds WHERE state = 'pending'"), 2);
	/* Stripe made both; its report says the total, 500, naming neither */
	ck_assert_int_eq(fakepay_refund_settle(fk[2], true), 2);
	ck_assert_int_eq(charge_refunded(txn, 500, "evt_total"), 200);
	ck_assert_int_eq(q("SELECT count(*) FROM refunds WHERE state = 'succeeded'"), 2);
	ck_assert_int_eq(balance("ten_1"), 500);
	/* the worker's queries then confirm each, and the report comes again: nothing more */
	sleep(3);
	ck_assert_int_eq(charge_refunded(txn, 500, "evt_total_again"), 200);
	ck_assert_int_eq(q("SELECT coalesce(sum(-amount_minor), 0) FROM ledger_entries WHERE kind = 'refund'"), 500);
	ck_assert_int_eq(q("SELECT refunded_minor FROM payments"), 500);
	ck_assert_int_eq(balance("ten_1"), 500);
}
END_TEST

struct refund_arg {
	char pay[32], key[32];
	long status;
};

static void *refund_thread(void *arg)
{
	struct refund_arg *a = arg;
	struct th_resp r = refund(a->pay, 1000, a->key);
	a->status = r.status;
	th_resp_free(&r);
	return NULL;
}

static void *refund_thread400(void *arg)
{
	struct refund_arg *a = arg;
	struct th_resp r = refund(a->pay, 400, a->key);
	a->status = r.status;
	th_resp_free(&r);
	return NULL;
}

START_TEST(refunds_of_several_payments_at_once_stay_within_the_balance)
{
	/* Six payments of 1000, a balance of 1000 after the energy: six refunds of 1000 at once,
	 * of different payments (different payment rows to lock), pending at Stripe. */
	enum { N = 6 };
	struct refund_arg a[N];
	/* enough HTTP threads that the six are in their transactions at once */
	ck_assert_int_eq(th_server_stop(&srv), 0);
	const char *extra[] = {"WATTLE_THREADS=12", NULL};
	th_server_start(&srv, db, env_with(extra));
	for (int i = 0; i < N; i++) {
		char otn[64], id[32];
		json_decref(order("ten_1", "stripe", 1000, otn, id));
		ck_assert_int_eq(fakepay_pay(fk[2], otn, NULL), 0);
	}
	ck_assert_int_eq(wait_count("SELECT count(*) FROM payments WHERE status = 'credited'", N, 15000), N);
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/adjustments", fin,
			  "{\"amount_minor\":-5000,\"reason\":\"energy\"}", 201));
	pthread_mutex_lock(&fk[2]->mu);
	fk[2]->refund_pending = true;
	pthread_mutex_unlock(&fk[2]->mu);
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		snprintf(a[i].pay, sizeof a[i].pay, "pay_%d", i + 1);
		snprintf(a[i].key, sizeof a[i].key, "many-%d", i);
		pthread_create(&th[i], NULL, refund_thread, &a[i]);
	}
	int accepted = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		accepted += a[i].status == 202;
		refused += a[i].status == 422;
	}
	ck_assert_int_eq(accepted, 1);
	ck_assert_int_eq(refused, N - 1);
	ck_assert_int_eq(q("SELECT count(*) FROM refunds"), 1);
	ck_assert_uint_eq(fakepay_calls(fk[2], FC_REFUND), 1);
	/* and six refunds of 400 of one payment at once: what is left of it (1000) takes two. The
	 * payment is one the six above did not refund (which one won was the threads' race: when
	 * it was pay_2, nothing was left of it, and all six were refused) */
	int spare = 0;
	while (a[spare].status == 202)
		spare++;
	char spare_pay[32];
	snprintf(spare_pay, sizeof spare_pay, "pay_%d", spare + 1);
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/adjustments", fin,
			  "{\"amount_minor\":9000,\"reason\":\"energy reversed\"}", 201));
	for (int i = 0; i < N; i++) {
		snprintf(a[i].pay, sizeof a[i].pay, "%s", spare_pay);
		snprintf(a[i].key, sizeof a[i].key, "one-%d", i);
		a[i].status = 0;
	}
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, refund_thread400, &a[i]);
	accepted = refused = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		accepted += a[i].status == 202;
		refused += a[i].status == 422;
	}
	ck_assert_msg(accepted == 2 && refused == N - 2, "six refunds of 400 of 1000: %d accepted, %d refused (%ld %ld %ld %ld %ld %ld)",
		      accepted, refused, a[0].status, a[1].status, a[2].status, a[3].status, a[4].status, a[5].status);
	char sql[120];
	snprintf(sql, sizeof sql, "SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE payment_id = %d", spare + 1);
	ck_assert_int_eq(q(sql), 800);
}
END_TEST

/* ---- reconciliation ---- */

/* The date in Shanghai now, YYYY-MM-DD. */
static void today(char out[11])
{
	time_t t = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

static json_t *reconcile(const char *provider, const char *date)
{
	char body[128];
	snprintf(body, sizeof body, "{\"provider\":\"%s\",\"date\":\"%s\"}", provider, date);
	return th_ok(&srv, "POST", "/v1/reconciliations", fin, body, 201);
}

static long long count_of(json_t *run, const char *key) { return (long long)json_array_size(json_object_get(run, key)); }

START_TEST(reconciliation_with_every_kind_of_difference)
{
	/* The query worker is slow here, so that payments can be on the bill only. */
	ck_assert_int_eq(th_server_stop(&srv), 0);
	const char *extra[] = {"WATTLE_PAY_QUERY_AFTER_S=3600", NULL};
	th_server_start(&srv, db, env_with(extra));
	const char *p = providers[_i];
	char date[11], otn[3][64], id[3][32], txn[3][64];
	today(date);
	for (int k = 0; k < 3; k++) {
		json_decref(order("ten_2", p, 1000 + 100 * k, otn[k], id[k]));
		ck_assert_int_eq(fakepay_pay(fk[_i], otn[k], txn[k]), 0);
	}
	pthread_mutex_lock(&fk[_i]->mu);
	struct fake_bill_extra *x = &fk[_i]->extras[fk[_i]->nextras++];
	memset(x, 0, sizeof *x);
	snprintf(x->date, sizeof x->date, "%s", date);
	snprintf(x->txn, sizeof x->txn, "%s", _i == 2 ? "pi_stranger" : "4200000000000000000099");
	x->amount = 4321;
	x->at_s = (int64_t)time(NULL);
	pthread_mutex_unlock(&fk[_i]->mu);
	ck_assert_int_eq(q("SELECT count(*) FROM payments"), 0);
	/* run 1: the three paid orders are on the bill only: credited now; the stranger's
	 * payment matches no order: kept as a conflict */
	json_t *r1 = reconcile(p, date);
	ck_assert_str_eq(json_string_value(json_object_get(r1, "state")), "done");
	ck_assert_int_eq(json_integer_value(json_object_get(r1, "matched")), 0);
	ck_assert_int_eq(count_of(r1, "missing_in_wattle"), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(r1, "credited")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r1, "totals"), "provider_minor")),
			 1000 + 1100 + 1200 + 4321);
	json_decref(r1);
	ck_assert_int_eq(balance("ten_2"), 3300);
	ck_assert_int_eq(q("SELECT count(*) FROM payment_conflicts WHERE reason = 'unknown_order'"), 1);
	/* a refund of the first, then the bill changes: the second's amount differs, the third
	 * is left off */
	char pay[32], sql[192];
	snprintf(sql, sizeof sql, "SELECT id FROM payments WHERE provider_txn_id = '%s'", txn[0]);
	snprintf(pay, sizeof pay, "pay_%lld", q(sql));
	struct th_resp rr = refund(pay, 100, "rec-rf");
	ck_assert_int_eq(rr.status, 202);
	th_resp_free(&rr);
	pthread_mutex_lock(&fk[_i]->mu);
	fake_trade_find(fk[_i], otn[1], NULL)->bill_amount = 1105;
	fake_trade_find(fk[_i], otn[2], NULL)->bill_hide = true;
	pthread_mutex_unlock(&fk[_i]->mu);
	json_t *r2 = reconcile(p, date);
	ck_assert_int_eq(json_integer_value(json_object_get(r2, "matched")), 3); /* the first, its refund, the stranger */
	ck_assert_int_eq(count_of(r2, "missing_in_wattle"), 0);
	ck_assert_int_eq(count_of(r2, "amount_mismatch"), 1);
	ck_assert_int_eq(count_of(r2, "missing_at_provider"), 1);
	json_t *m = json_array_get(json_object_get(r2, "amount_mismatch"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "provider_txn_id")), txn[1]);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "provider_minor")), 1105);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "wattle_minor")), 1100);
	m = json_array_get(json_object_get(r2, "missing_at_provider"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "provider_txn_id")), txn[2]);
	char path[96];
	snprintf(path, sizeof path, "/v1/reconciliations/%s", json_string_value(json_object_get(r2, "id")));
	json_decref(r2);
	ck_assert_int_eq(balance("ten_2"), 3200); /* nothing credited twice */
	json_t *g = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_int_eq(count_of(g, "amount_mismatch"), 1);
	json_decref(g);
	snprintf(path, sizeof path, "/v1/reconciliations?provider=%s&date=%s", p, date);
	g = th_ok(&srv, "GET", path, fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(g, "items")), 2);
	json_decref(g);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("money");
	TCase *o = tcase_create("orders");
	tcase_set_timeout(o, 300);
	tcase_add_checked_fixture(o, setup, teardown);
	int from = 0; /* WeChat, Alipay, Stripe */
	tcase_add_loop_test(o, order_made_at_the_provider_and_a_missed_notification_credited_by_query, from, 3);
	tcase_add_test(o, notification_and_query_racing_credit_once);
	tcase_add_loop_test(o, provider_timing_out_or_refusing_leaves_the_order_failed, from, 3);
	tcase_add_loop_test(o, expired_order_closed_at_the_provider, from, 3);
	suite_add_tcase(s, o);
	TCase *r = tcase_create("refunds");
	tcase_set_timeout(r, 300);
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_loop_test(r, refunds_partial_full_and_refused, from, 3);
	tcase_add_loop_test(r, refund_pending_then_confirmed_once, from, 3);
	tcase_add_loop_test(r, reconciliation_with_every_kind_of_difference, from, 3);
	tcase_add_test(r, a_total_refunded_over_two_pending_refunds_debits_them_once);
	tcase_add_test(r, refunds_of_several_payments_at_once_stay_within_the_balance);
	suite_add_tcase(s, r);
	return s;
}

int main(void) { return th_run(suite()); }
