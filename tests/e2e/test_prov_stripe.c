/* test_prov_stripe.c: wattle calling Stripe (api/prov_stripe.c) against the Stripe fake
 * (tools/fakepay/fake_stripe.c), in-process, no database: Checkout Sessions created
 * (with and without expires_at), asked (open, paid, expired, unknown) and expired; refunds
 * whole, in part and refused, asked by id and by payment intent; a day's balance
 * transactions page by page. Each outcome is checked against the fake's own state and the
 * exact bytes the client sent. The fake's checks are proved by requests built by hand: a
 * wrong secret key, no Idempotency-Key, a reused key, missing and bad parameters. */
#include "harness.h"

#include "api/provider.h"
#include "fakepay.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECRET "sk_test_wattle_4242"

static struct fakepay *f;
static char base[128];

/* The settings are borrowed by pay_cfg for as long as payments run: static. */
static void start_with(const char *key, int64_t timeout_ms)
{
	static struct api_pay_settings ps;
	memset(&ps, 0, sizeof ps);
	ps.stripe_api_base = base;
	ps.stripe_secret_key = key;
	ps.public_url = "https://wattle.example/";
	ps.timeout_ms = timeout_ms;
	ck_assert_int_eq(api_payments_start(&ps), 0);
	ck_assert(prov_enabled(PROV_STRIPE));
}

static void setup(void)
{
	struct fakepay_keys k = {.secret = SECRET};
	f = fakepay_start("stripe", &k);
	ck_assert_ptr_nonnull(f);
	fakepay_base(f, base, sizeof base);
	start_with(SECRET, 5000);
}

static void teardown(void)
{
	api_payments_stop();
	fakepay_stop(f);
	f = NULL;
}

static int64_t now(void) { return (int64_t)time(NULL); }

static struct prov_order_req order(const char *otn, int64_t amount, int64_t ttl_s)
{
	int64_t t = now();
	return (struct prov_order_req){.out_trade_no = otn, .order_id = 7, .tenant_id = 3, .amount_minor = amount,
				       .currency = "CNY", .description = "Mall A&B: 电费 top-up", .expires_s = t + ttl_s,
				       .now_s = t};
}

/* Create otn and check it came back as the fake holds it. */
static void create(const char *otn, int64_t amount, struct prov_order *o)
{
	struct prov_order_req rq = order(otn, amount, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, o, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, otn, &t), 0);
	ck_assert_str_eq(o->provider_ref, t.ref);
}

static bool body_has(const char *needle)
{
	pthread_mutex_lock(&f->mu);
	bool yes = strstr(f->stripe_last_body, needle) != NULL;
	pthread_mutex_unlock(&f->mu);
	return yes;
}

static void pay(const char *otn, char txn[64]) { ck_assert_int_eq(fakepay_pay(f, otn, txn), 0); }

/* ---- a request built by hand, past the client ---- */

struct raw {
	long status;
	char body[4096];
	size_t n;
};

static size_t raw_put(char *d, size_t s, size_t nm, void *ud)
{
	struct raw *r = ud;
	size_t k = s * nm;
	if (r->n + k >= sizeof r->body)
		k = sizeof r->body - 1 - r->n;
	memcpy(r->body + r->n, d, k);
	r->n += k;
	r->body[r->n] = 0;
	return s * nm;
}

/* POST path with body (or GET when body is NULL) and the given headers; the answer. */
static struct raw hand(const char *path, const char *body, const char *const *headers)
{
	struct raw r = {0};
	char url[256];
	snprintf(url, sizeof url, "%s%s", base, path);
	CURL *h = curl_easy_init();
	struct curl_slist *hs = NULL;
	for (size_t i = 0; headers && headers[i]; i++)
		hs = curl_slist_append(hs, headers[i]);
	hs = curl_slist_append(hs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, raw_put);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	return r;
}

/* The error's member ("type", "code", "param", "message") of a raw answer, into buf. */
static const char *err_of(const struct raw *r, const char *member, char *buf, size_t n)
{
	json_t *j = json_loads(r->body, 0, NULL);
	const char *v = json_string_value(json_object_get(json_object_get(j, "error"), member));
	snprintf(buf, n, "%s", v ? v : "");
	json_decref(j);
	return buf;
}

#define GOOD_SESSION                                                                                               \
	"mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cny"                                          \
	"&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=Top-up"                                     \
	"&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1000&line_items%5B0%5D%5Bquantity%5D=1"                \
	"&client_reference_id=HAND1&success_url=https%3A%2F%2Fwattle.example%2Ft%2F"

static const char *const good_headers[] = {"Authorization: Bearer " SECRET,
					    "Content-Type: application/x-www-form-urlencoded", "Idempotency-Key: hand-1",
					    NULL};

/* ---- orders ---- */

START_TEST(create_sends_the_session_as_stripe_takes_it)
{
	struct prov_order o;
	struct prov_order_req rq = order("WT20261201000000000000001A", 1234, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(st.http_status, 200);
	ck_assert_msg(!strncmp(o.provider_ref, "cs_test_", 8), "%s", o.provider_ref);
	ck_assert_msg(!strncmp(o.pay_url, "https://checkout.stripe.com/c/pay/", 34), "%s", o.pay_url);
	ck_assert_ptr_null(o.pay_params);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, rq.out_trade_no, &t), 0);
	ck_assert_str_eq(t.ref, o.provider_ref);
	ck_assert_int_eq(t.amount, 1234);
	ck_assert_str_eq(t.currency, "CNY");
	ck_assert_int_eq(t.state, FT_OPEN);
	ck_assert_int_eq(t.expires_s, rq.expires_s);
	ck_assert_str_eq(t.idem_key, rq.out_trade_no);
	ck_assert_str_eq(t.description, "Mall A&B: 电费 top-up"); /* decoded back byte for byte */
	ck_assert_str_eq(t.notify_url, "https://wattle.example/t/?order=WT20261201000000000000001A");
	/* the exact encoding: brackets, the '&' and ':' of the name, its UTF-8 bytes */
	ck_assert(body_has("mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cny&"));
	ck_assert(body_has("&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D="
			   "Mall%20A%26B%3A%20%E7%94%B5%E8%B4%B9%20top-up&"));
	ck_assert(body_has("&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1234&line_items%5B0%5D%5Bquantity%5D=1&"));
	ck_assert(body_has("&client_reference_id=WT20261201000000000000001A&"));
	ck_assert(body_has("&metadata%5Bout_trade_no%5D=WT20261201000000000000001A&metadata%5Border_id%5D=ord_7"
			   "&metadata%5Btenant_id%5D=ten_3&"));
	ck_assert(body_has("&payment_intent_data%5Bmetadata%5D%5Bout_trade_no%5D=WT20261201000000000000001A&"));
	ck_assert(body_has("&success_url=https%3A%2F%2Fwattle.example%2Ft%2F%3Forder%3DWT20261201000000000000001A&"));
	ck_assert(body_has("&cancel_url=https%3A%2F%2Fwattle.example%2Ft%2F%3Forder%3DWT20261201000000000000001A%26cancelled%3D1"));
	char exp[48];
	snprintf(exp, sizeof exp, "&expires_at=%lld", (long long)rq.expires_s);
	ck_assert(body_has(exp));
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(create_keeps_expires_at_inside_stripes_bounds)
{
	struct prov_order o;
	struct prov_status st;
	struct fake_trade t;
	/* 10 minutes: Stripe refuses less than 30, so none is sent (Stripe's default, 24 h) */
	struct prov_order_req rq = order("WT_SHORT", 500, 600);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
	ck_assert(!body_has("expires_at"));
	ck_assert_int_eq(fakepay_trade(f, "WT_SHORT", &t), 0);
	ck_assert_int_ge(t.expires_s, now() + 86400 - 5);
	/* exactly 30 minutes: at Stripe it would be less by the time it arrives: none */
	rq = order("WT_EDGE", 500, 1800);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
	ck_assert(!body_has("expires_at"));
	/* 31 minutes: sent as it is */
	rq = order("WT_31", 500, 1860);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
	ck_assert_int_eq(fakepay_trade(f, "WT_31", &t), 0);
	ck_assert_int_eq(t.expires_s, rq.expires_s);
	/* two days: the most Stripe takes, a minute inside it */
	rq = order("WT_LONG", 500, 2 * 86400);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
	ck_assert_int_eq(fakepay_trade(f, "WT_LONG", &t), 0);
	ck_assert_int_eq(t.expires_s, rq.now_s + 86400 - 60);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 4);
	ck_assert_uint_eq(fakepay_refused(f), 0);
}
END_TEST

START_TEST(create_twice_is_one_session)
{
	struct prov_order a, b;
	struct prov_order_req rq = order("WT_TWICE", 800, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &a, &st), 0);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &b, &st), 0);
	ck_assert_str_eq(a.provider_ref, b.provider_ref);
	ck_assert_str_eq(a.pay_url, b.pay_url);
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->ntrades, 1);
	pthread_mutex_unlock(&f->mu);
	/* the same key with another amount is Stripe's idempotency_error, not a second session */
	rq.amount_minor = 801;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &b, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "idempotency_error");
	ck_assert_int_eq(st.http_status, 400);
	ck_assert_str_eq(b.provider_ref, "");
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->ntrades, 1);
	pthread_mutex_unlock(&f->mu);
}
END_TEST

START_TEST(query_open_paid_closed_unknown)
{
	struct prov_order o;
	create("WT_Q", 1500, &o);
	struct prov_trade tr;
	struct prov_status st;
	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_Q", o.provider_ref, &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_OPEN);
	ck_assert_str_eq(json_string_value(json_object_get(tr.raw, "id")), o.provider_ref);
	json_decref(tr.raw);

	char txn[64];
	pay("WT_Q", txn);
	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_Q", o.provider_ref, &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_PAID);
	ck_assert_msg(!strncmp(txn, "pi_", 3), "%s", txn);
	ck_assert_str_eq(tr.txn, txn);
	ck_assert_int_eq(tr.amount_minor, 1500);
	ck_assert_str_eq(tr.currency, "CNY");
	ck_assert_str_eq(json_string_value(json_object_get(tr.raw, "payment_status")), "paid");
	json_decref(tr.raw);
	/* the session of another order is not taken for this one */
	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_OTHER", o.provider_ref, &tr, &st), -1);
	ck_assert_int_eq(st.result, PR_ERROR);
	ck_assert_str_eq(st.code, "bad_reply");

	struct prov_order c;
	create("WT_C", 900, &c);
	ck_assert_int_eq(prov_order_close(PROV_STRIPE, "WT_C", c.provider_ref, &st), 0);
	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_C", c.provider_ref, &tr, &st), 0);
	ck_assert_int_eq(tr.state, TRADE_CLOSED);
	json_decref(tr.raw);

	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_NONE", "cs_test_nosuch", &tr, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_int_eq(tr.state, TRADE_UNKNOWN);
	ck_assert_ptr_null(tr.raw);
	/* without the session id there is nothing to ask */
	ck_assert_int_eq(prov_order_query(PROV_STRIPE, "WT_Q", "", &tr, &st), -1);
	ck_assert_str_eq(st.code, "no_reference");
	ck_assert_uint_eq(fakepay_calls(f, FC_QUERY), 5);
}
END_TEST

START_TEST(close_open_expired_and_paid)
{
	struct prov_order o;
	struct prov_status st;
	create("WT_X1", 700, &o);
	ck_assert_int_eq(prov_order_close(PROV_STRIPE, "WT_X1", o.provider_ref, &st), 0);
	ck_assert_uint_eq(fakepay_calls(f, FC_CLOSE), 1);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, "WT_X1", &t), 0);
	ck_assert_int_eq(t.state, FT_CLOSED);
	ck_assert_int_eq(fakepay_pay(f, "WT_X1", NULL), -1); /* it can no longer be paid */
	/* again: the same Idempotency-Key, Stripe's saved answer */
	ck_assert_int_eq(prov_order_close(PROV_STRIPE, "WT_X1", o.provider_ref, &st), 0);
	ck_assert_uint_eq(fakepay_calls(f, FC_CLOSE), 1);

	/* expired by its own time: Stripe refuses to expire it, the client asks and sees expired */
	struct prov_order e;
	create("WT_X2", 700, &e);
	pthread_mutex_lock(&f->mu);
	fake_trade_find(f, "WT_X2", NULL)->expires_s = now() - 1;
	unsigned refused = f->refused;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_order_close(PROV_STRIPE, "WT_X2", e.provider_ref, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(fakepay_refused(f), refused + 1);

	struct prov_order p;
	create("WT_X3", 700, &p);
	pay("WT_X3", NULL);
	ck_assert_int_eq(prov_order_close(PROV_STRIPE, "WT_X3", p.provider_ref, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "paid");
	ck_assert_int_eq(fakepay_trade(f, "WT_X3", &t), 0);
	ck_assert_int_eq(t.state, FT_PAID);
}
END_TEST

/* ---- refunds ---- */

static struct prov_refund_req refund_req(const char *txn, const char *no, int64_t amount)
{
	return (struct prov_refund_req){.txn = txn, .out_trade_no = "WT_R", .out_refund_no = no, .amount_minor = amount,
					.total_minor = 1000, .currency = "CNY", .reason = "meter 3 read twice; 多收"};
}

START_TEST(refund_asked_again_after_stripe_forgot_the_key_is_made_once)
{
	/* Stripe keeps an Idempotency-Key 24 hours: a refund whose first answer was lost and is
	 * asked for again later must be found by its out_refund_no, not made a second time */
	struct prov_order o;
	create("WT_F", 1000, &o);
	char txn[64];
	pay("WT_F", txn);
	struct prov_refund r;
	struct prov_status st;
	struct prov_refund_req rq = refund_req(txn, "rf9", 400);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	char first[130];
	snprintf(first, sizeof first, "%s", r.refund_ref);
	json_decref(r.raw);
	pthread_mutex_lock(&f->mu);
	f->stripe_nidem = 0; /* a day later: the key is forgotten */
	memset(f->stripe_idem, 0, sizeof f->stripe_idem);
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	ck_assert_str_eq(r.refund_ref, first);
	json_decref(r.raw);
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->nrefunds, 1);
	pthread_mutex_unlock(&f->mu);
}
END_TEST

START_TEST(refund_in_part_whole_and_refused)
{
	struct prov_order o;
	create("WT_R", 1000, &o);
	char txn[64];
	pay("WT_R", txn);
	struct prov_refund r;
	struct prov_status st;
	struct prov_refund_req rq = refund_req(txn, "rf1", 300);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	ck_assert_msg(!strncmp(r.refund_ref, "re_", 3), "%s", r.refund_ref);
	ck_assert_int_eq(json_integer_value(json_object_get(r.raw, "amount")), 300);
	json_decref(r.raw);
	char want[128];
	snprintf(want, sizeof want, "payment_intent=%s&amount=300&reason=requested_by_customer&", txn);
	ck_assert(body_has(want));
	ck_assert(body_has("&metadata%5Bout_refund_no%5D=rf1&metadata%5Bout_trade_no%5D=WT_R"
			   "&metadata%5Breason%5D=meter%203%20read%20twice%3B%20%E5%A4%9A%E6%94%B6"));
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->nrefunds, 1);
	ck_assert_str_eq(f->refunds[0].out_refund_no, "rf1");
	ck_assert_str_eq(f->refunds[0].refund_id, r.refund_ref);
	ck_assert_str_eq(f->refunds[0].txn, txn);
	ck_assert_str_eq(f->refunds[0].reason, "requested_by_customer");
	ck_assert_int_eq(f->refunds[0].amount, 300);
	pthread_mutex_unlock(&f->mu);

	/* asked again: one refund */
	char first[130];
	snprintf(first, sizeof first, "%s", r.refund_ref);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	ck_assert_str_eq(r.refund_ref, first);
	json_decref(r.raw);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND), 1);

	/* more than is left (700) */
	rq = refund_req(txn, "rf2", 701);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "amount_too_large");
	ck_assert_int_eq(st.http_status, 400);
	ck_assert_ptr_null(r.raw);
	/* the rest */
	rq = refund_req(txn, "rf3", 700);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_SUCCEEDED);
	json_decref(r.raw);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, "WT_R", &t), 0);
	ck_assert_int_eq(t.refunded, 1000);
	/* nothing left */
	rq = refund_req(txn, "rf4", 1);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), -1);
	ck_assert_str_eq(st.code, "charge_already_refunded");
	/* a payment Stripe does not know */
	rq = refund_req("pi_nosuch", "rf5", 1);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), -1);
	ck_assert_str_eq(st.code, "resource_missing");
	pthread_mutex_lock(&f->mu);
	ck_assert_uint_eq(f->nrefunds, 2);
	pthread_mutex_unlock(&f->mu);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND), 2);
}
END_TEST

START_TEST(refund_pending_then_asked)
{
	struct prov_order o;
	create("WT_R", 1000, &o);
	char txn[64];
	pay("WT_R", txn);
	pthread_mutex_lock(&f->mu);
	f->refund_pending = true;
	f->stripe_page_limit = 1; /* the list by payment intent comes one refund a page */
	pthread_mutex_unlock(&f->mu);
	struct prov_refund r, q;
	struct prov_status st;
	struct prov_refund_req rq = refund_req(txn, "rfA", 100);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	ck_assert_int_eq(r.state, REFUND_PENDING);
	json_decref(r.raw);
	for (int i = 0; i < 3; i++) { /* newer refunds, listed before rfA */
		char no[16];
		snprintf(no, sizeof no, "rfB%d", i);
		struct prov_refund_req more = refund_req(txn, no, 10);
		struct prov_refund x;
		ck_assert_int_eq(prov_refund(PROV_STRIPE, &more, &x, &st), 0);
		json_decref(x.raw);
	}
	rq.refund_ref = r.refund_ref;
	ck_assert_int_eq(prov_refund_query(PROV_STRIPE, &rq, &q, &st), 0);
	ck_assert_int_eq(q.state, REFUND_PENDING);
	ck_assert_str_eq(q.refund_ref, r.refund_ref);
	json_decref(q.raw);
	ck_assert_int_eq(fakepay_refund_settle(f, true), 4);
	ck_assert_int_eq(prov_refund_query(PROV_STRIPE, &rq, &q, &st), 0);
	ck_assert_int_eq(q.state, REFUND_SUCCEEDED);
	json_decref(q.raw);
	unsigned before = fakepay_calls(f, FC_REFUND_QUERY);
	/* without the refund id: by payment intent and out_refund_no, four pages */
	rq.refund_ref = NULL;
	ck_assert_int_eq(prov_refund_query(PROV_STRIPE, &rq, &q, &st), 0);
	ck_assert_int_eq(q.state, REFUND_SUCCEEDED);
	ck_assert_str_eq(q.refund_ref, r.refund_ref);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(q.raw, "metadata"), "out_refund_no")), "rfA");
	json_decref(q.raw);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND_QUERY), before + 4);
	/* a refund that was never made */
	rq.out_refund_no = "rfNone";
	ck_assert_int_eq(prov_refund_query(PROV_STRIPE, &rq, &q, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "resource_missing");
	/* failed refunds say so */
	struct prov_refund_req c = refund_req(txn, "rfC", 50);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &c, &r, &st), 0);
	json_decref(r.raw);
	ck_assert_int_eq(fakepay_refund_settle(f, false), 1);
	c.refund_ref = r.refund_ref;
	ck_assert_int_eq(prov_refund_query(PROV_STRIPE, &c, &q, &st), 0);
	ck_assert_int_eq(q.state, REFUND_FAILED);
	json_decref(q.raw);
}
END_TEST

/* ---- the bill ---- */

static const struct prov_bill_line *line_of(const struct prov_bill_line *l, size_t n, const char *txn, bool refund)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].txn, txn) && l[i].refund == refund)
			return &l[i];
	return NULL;
}

START_TEST(bill_of_a_day_page_by_page)
{
	struct prov_order o;
	char a[64], b[64], c[64];
	create("WT_BA", 1000, &o);
	create("WT_BB", 2000, &o);
	create("WT_BC", 3000, &o);
	create("WT_BD", 4000, &o); /* never paid: not on the bill */
	pay("WT_BA", a);
	pay("WT_BB", b);
	pay("WT_BC", c);
	struct prov_refund r;
	struct prov_status st;
	struct prov_refund_req rq = refund_req(a, "rfBill", 300);
	ck_assert_int_eq(prov_refund(PROV_STRIPE, &rq, &r, &st), 0);
	json_decref(r.raw);
	int64_t t = now(), from = t - 3600, to = t + 3600;
	pthread_mutex_lock(&f->mu);
	fake_trade_find(f, "WT_BB", NULL)->bill_amount = 1999; /* Stripe says otherwise */
	fake_trade_find(f, "WT_BC", NULL)->bill_hide = true;   /* Stripe leaves it out */
	f->extras[0] = (struct fake_bill_extra){.date = "2026-12-01", .txn = "pi_extra", .out_trade_no = "", .amount = 555, .at_s = t};
	f->extras[1] = (struct fake_bill_extra){.date = "2026-11-30", .txn = "pi_before", .amount = 9, .at_s = from - 1};
	f->extras[2] = (struct fake_bill_extra){.date = "2026-12-02", .txn = "pi_after", .amount = 9, .at_s = to};
	f->nextras = 3;
	f->stripe_page_limit = 2;
	pthread_mutex_unlock(&f->mu);

	struct prov_bill_line *l;
	size_t n;
	ck_assert_int_eq(prov_bill(PROV_STRIPE, "2026-12-01", from, to, &l, &n, &st), 0);
	ck_assert_int_eq(st.result, PR_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(fakepay_calls(f, FC_BILL), 2);
	const struct prov_bill_line *x = line_of(l, n, a, false);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->amount_minor, 1000);
	ck_assert_str_eq(x->currency, "CNY");
	ck_assert_str_eq(x->out_trade_no, "WT_BA");
	ck_assert_int_ge(x->at_s, t - 5);
	x = line_of(l, n, b, false);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->amount_minor, 1999);
	ck_assert_ptr_null(line_of(l, n, c, false));
	x = line_of(l, n, a, true);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->amount_minor, 300);
	ck_assert_str_eq(x->refund_ref, r.refund_ref);
	x = line_of(l, n, "pi_extra", false);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(x->amount_minor, 555);
	ck_assert_str_eq(x->out_trade_no, "");
	ck_assert_int_eq(x->at_s, t);
	free(l);
	/* a day with nothing */
	ck_assert_int_eq(prov_bill(PROV_STRIPE, "2026-11-01", from - 40 * 86400, from - 39 * 86400, &l, &n, &st), 0);
	ck_assert_uint_eq(n, 0);
	free(l);
}
END_TEST

/* ---- what the fake checks, and how the client takes a refusal ---- */

START_TEST(wrong_secret_key_is_refused)
{
	api_payments_stop();
	start_with("sk_test_someone_else", 5000);
	struct prov_order o;
	struct prov_order_req rq = order("WT_KEY", 1000, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_int_eq(st.http_status, 401);
	ck_assert_str_eq(st.code, "invalid_request_error");
	ck_assert_ptr_null(strstr(st.message, "else")); /* not even the end of the key Stripe shows */
	ck_assert_uint_eq(fakepay_refused(f), 1);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 0);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, "WT_KEY", &t), -1);
	/* by hand too: no key, another key; the right one passes */
	const char *none[] = {"Content-Type: application/x-www-form-urlencoded", "Idempotency-Key: k1", NULL};
	const char *other[] = {"Authorization: Bearer sk_test_wattle_4243", "Content-Type: application/x-www-form-urlencoded",
			       "Idempotency-Key: k2", NULL};
	ck_assert_int_eq(hand("/v1/checkout/sessions", GOOD_SESSION, none).status, 401);
	ck_assert_int_eq(hand("/v1/checkout/sessions", GOOD_SESSION, other).status, 401);
	ck_assert_int_eq(hand("/v1/checkout/sessions/cs_test_x", NULL, other).status, 401);
	ck_assert_uint_eq(fakepay_refused(f), 4);
	ck_assert_int_eq(hand("/v1/checkout/sessions", GOOD_SESSION, good_headers).status, 200);
	ck_assert_int_eq(fakepay_trade(f, "HAND1", &t), 0);
}
END_TEST

START_TEST(missing_idempotency_key_is_refused)
{
	const char *no_key[] = {"Authorization: Bearer " SECRET, "Content-Type: application/x-www-form-urlencoded", NULL};
	struct raw r = hand("/v1/checkout/sessions", GOOD_SESSION, no_key);
	char buf[256];
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "type", buf, sizeof buf), "invalid_request_error");
	ck_assert_uint_eq(fakepay_refused(f), 1);
	struct fake_trade t;
	ck_assert_int_eq(fakepay_trade(f, "HAND1", &t), -1);
	/* the same request with the key passes; again with another body is an idempotency_error */
	r = hand("/v1/checkout/sessions", GOOD_SESSION, good_headers);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(fakepay_trade(f, "HAND1", &t), 0);
	r = hand("/v1/checkout/sessions", GOOD_SESSION "&metadata%5Bx%5D=1", good_headers);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "type", buf, sizeof buf), "idempotency_error");
	/* the key on another path is misuse too */
	r = hand("/v1/refunds", "payment_intent=pi_1", good_headers);
	ck_assert_str_eq(err_of(&r, "type", buf, sizeof buf), "idempotency_error");
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);
}
END_TEST

START_TEST(bad_requests_are_refused_as_stripe_does)
{
	char buf[256];
	struct raw r;
	const char *json_ct[] = {"Authorization: Bearer " SECRET, "Content-Type: application/json", "Idempotency-Key: j1", NULL};
	r = hand("/v1/checkout/sessions", "{\"mode\":\"payment\"}", json_ct);
	ck_assert_int_eq(r.status, 400);
	const char *h[] = {"Authorization: Bearer " SECRET, "Content-Type: application/x-www-form-urlencoded",
			   "Idempotency-Key: b1", NULL};
	/* no quantity */
	r = hand("/v1/checkout/sessions",
		 "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cny"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=T"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1&success_url=https%3A%2F%2Fx.example%2F",
		 h);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "code", buf, sizeof buf), "parameter_missing");
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "line_items[0][quantity]");
	/* no success_url */
	r = hand("/v1/checkout/sessions",
		 "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cny"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=T"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1&line_items%5B0%5D%5Bquantity%5D=1",
		 h);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "success_url");
	/* a currency that is none */
	r = hand("/v1/checkout/sessions",
		 "mode=payment&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=xyz"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=T"
		 "&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1&line_items%5B0%5D%5Bquantity%5D=1"
		 "&success_url=https%3A%2F%2Fx.example%2F",
		 h);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "line_items[0][price_data][currency]");
	/* expires_at 29 minutes ahead */
	char body[1024];
	snprintf(body, sizeof body, "%s&expires_at=%lld", GOOD_SESSION, (long long)(now() + 29 * 60));
	r = hand("/v1/checkout/sessions", body, h);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "expires_at");
	ck_assert_msg(strstr(err_of(&r, "message", buf, sizeof buf), "at least 30 minutes"), "%s", buf);
	/* 25 hours ahead */
	snprintf(body, sizeof body, "%s&expires_at=%lld", GOOD_SESSION, (long long)(now() + 25 * 3600));
	r = hand("/v1/checkout/sessions", body, h);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "expires_at");
	/* a parameter Stripe does not know */
	r = hand("/v1/checkout/sessions", GOOD_SESSION "&notify_url=https%3A%2F%2Fx.example%2F", h);
	ck_assert_str_eq(err_of(&r, "code", buf, sizeof buf), "parameter_unknown");
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 0);
	/* refused requests are not saved: the key still makes the session */
	r = hand("/v1/checkout/sessions", GOOD_SESSION, h);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(fakepay_calls(f, FC_CREATE), 1);

	/* a refund's reason is one of Stripe's three words */
	char txn[64];
	pay("HAND1", txn);
	const char *h2[] = {"Authorization: Bearer " SECRET, "Content-Type: application/x-www-form-urlencoded",
			    "Idempotency-Key: b2", NULL};
	snprintf(body, sizeof body, "payment_intent=%s&amount=10&reason=meter%%20read%%20twice", txn);
	r = hand("/v1/refunds", body, h2);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "reason");
	snprintf(body, sizeof body, "amount=10&reason=requested_by_customer");
	r = hand("/v1/refunds", body, h2);
	ck_assert_str_eq(err_of(&r, "code", buf, sizeof buf), "parameter_missing");
	snprintf(body, sizeof body, "payment_intent=%s&amount=10&reason=requested_by_customer", txn);
	r = hand("/v1/refunds", body, h2);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(fakepay_calls(f, FC_REFUND), 1);
	/* the bill's list takes at most 100 a page */
	const char *g[] = {"Authorization: Bearer " SECRET, NULL};
	r = hand("/v1/balance_transactions?limit=101", NULL, g);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(err_of(&r, "param", buf, sizeof buf), "limit");
	ck_assert_uint_eq(fakepay_refused(f), 10);
}
END_TEST

START_TEST(refused_create_gives_stripes_code)
{
	pthread_mutex_lock(&f->mu);
	snprintf(f->refuse_create, sizeof f->refuse_create, "account_invalid");
	pthread_mutex_unlock(&f->mu);
	struct prov_order o;
	struct prov_order_req rq = order("WT_NO", 1000, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_REFUSED);
	ck_assert_str_eq(st.code, "account_invalid");
	ck_assert_int_eq(st.http_status, 400);
	ck_assert_str_eq(o.provider_ref, "");
	ck_assert_str_eq(o.pay_url, "");
	ck_assert_uint_eq(fakepay_refused(f), 1);
	/* not saved under the key: once Stripe takes it again, the same order goes through */
	pthread_mutex_lock(&f->mu);
	f->refuse_create[0] = 0;
	pthread_mutex_unlock(&f->mu);
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), 0);
}
END_TEST

START_TEST(slow_stripe_is_a_timeout)
{
	api_payments_stop();
	start_with(SECRET, 300);
	pthread_mutex_lock(&f->mu);
	f->delay_ms = 1200;
	pthread_mutex_unlock(&f->mu);
	struct prov_order o;
	struct prov_order_req rq = order("WT_SLOW", 1000, 7200);
	struct prov_status st;
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), -1);
	ck_assert_int_eq(st.result, PR_TIMEOUT);
	ck_assert_str_eq(st.code, "timeout");
	ck_assert_int_eq(st.http_status, 0);
}
END_TEST

START_TEST(not_configured_without_the_key)
{
	api_payments_stop();
	struct prov_order o;
	struct prov_order_req rq = order("WT_OFF", 1000, 7200);
	struct prov_status st;
	ck_assert(!prov_enabled(PROV_STRIPE));
	ck_assert_int_eq(prov_order_create(PROV_STRIPE, &rq, &o, &st), -1);
	ck_assert_str_eq(st.code, "not_configured");
	start_with(SECRET, 5000); /* for teardown */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prov_stripe");
	TCase *c = tcase_create("core");
	tcase_add_checked_fixture(c, setup, teardown);
	tcase_set_timeout(c, 30);
	tcase_add_test(c, create_sends_the_session_as_stripe_takes_it);
	tcase_add_test(c, create_keeps_expires_at_inside_stripes_bounds);
	tcase_add_test(c, create_twice_is_one_session);
	tcase_add_test(c, query_open_paid_closed_unknown);
	tcase_add_test(c, close_open_expired_and_paid);
	tcase_add_test(c, refund_in_part_whole_and_refused);
	tcase_add_test(c, refund_asked_again_after_stripe_forgot_the_key_is_made_once);
	tcase_add_test(c, refund_pending_then_asked);
	tcase_add_test(c, bill_of_a_day_page_by_page);
	suite_add_tcase(s, c);
	TCase *l = tcase_create("limits");
	tcase_add_checked_fixture(l, setup, teardown);
	tcase_set_timeout(l, 30);
	tcase_add_test(l, wrong_secret_key_is_refused);
	tcase_add_test(l, missing_idempotency_key_is_refused);
	tcase_add_test(l, bad_requests_are_refused_as_stripe_does);
	tcase_add_test(l, refused_create_gives_stripes_code);
	tcase_add_test(l, slow_stripe_is_a_timeout);
	tcase_add_test(l, not_configured_without_the_key);
	suite_add_tcase(s, l);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return th_run(suite());
}
