/* payments.c: the payment providers' settings, the notifications counter, and settling
 * a checked notification (api/payments.h). The webhooks are hook_wechat.c, hook_alipay.c
 * and hook_stripe.c; orders.c and conflicts.c the finance side.
 *
 * A notification is checked in this order: the provider is configured, the signature over
 * the raw bytes verifies (core/paysig.c), the merchant is ours; then ops/payment.c, in one
 * transaction, locks the order, records the payment under UNIQUE (provider, provider
 * payment id) and, when it matches the order, credits the account (ledger entry, state
 * machine, receipt) before committing. A replay finds the payment recorded and credits
 * nothing; a genuine payment that does not match its order is kept as a conflict.
 *
 * Signature freshness (WeChat's timestamp, Stripe's t=) is judged against the wall clock,
 * not wattle's clock module: the providers sign in real time, and a test or demo clock
 * running fast must not make a genuine notification look stale. */
#include "api/payments.h"
#include "api/metrics.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/reconciliations.h"
#include "store/refunds.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pay_cfg pay_cfg;
#define cfg pay_cfg

static const char *const note_labels[PROV__COUNT * PAY__COUNT] = {
#define L(p) "provider=\"" p "\",outcome=\"credited\"", "provider=\"" p "\",outcome=\"replay\"",   \
	     "provider=\"" p "\",outcome=\"conflict\"", "provider=\"" p "\",outcome=\"refund\"",    \
	     "provider=\"" p "\",outcome=\"ignored\"", "provider=\"" p "\",outcome=\"refused\""
	L("wechat"), L("alipay"), L("stripe")
#undef L
};
static _Atomic uint64_t note_values[PROV__COUNT * PAY__COUNT];
static struct srv_counters note_counters = {
	"wattle_payment_notifications_total",
	"Payment notifications by provider and outcome (refused: signature, merchant or body).",
	PROV__COUNT * PAY__COUNT, note_labels, note_values, NULL};

void pay_count(enum pay_provider p, enum pay_outcome o)
{
	srv_counters_add(&note_counters, (int)p * PAY__COUNT + (int)o, 1);
}

/* Counters of one label set by provider and a fixed list of outcomes. */
#define OUTCOME_LABELS(p, a, b, c, d, e)                                                             \
	"provider=\"" p "\",outcome=\"" a "\"", "provider=\"" p "\",outcome=\"" b "\"",                    \
	    "provider=\"" p "\",outcome=\"" c "\"", "provider=\"" p "\",outcome=\"" d "\"",                \
	    "provider=\"" p "\",outcome=\"" e "\""
#define OUTCOMES5(a, b, c, d, e) \
	OUTCOME_LABELS("wechat", a, b, c, d, e), OUTCOME_LABELS("alipay", a, b, c, d, e), OUTCOME_LABELS("stripe", a, b, c, d, e)

static const char *const order_names[] = {"created", "refused", "timeout", "error", "closed"};
static const char *const order_labels[] = {OUTCOMES5("created", "refused", "timeout", "error", "closed")};
static _Atomic uint64_t order_values[15];
static struct srv_counters order_counters = {"wattle_topup_orders_total",
	"Top-up orders made with (or closed at) the provider, by provider and outcome (timeout: no answer).",
	15, order_labels, order_values, NULL};
static const char *const query_names[] = {"paid", "open", "closed", "unknown", "error"};
static const char *const query_labels[] = {OUTCOMES5("paid", "open", "closed", "unknown", "error")};
static _Atomic uint64_t query_values[15];
static struct srv_counters query_counters = {"wattle_payment_queries_total",
	"Queries of open top-up orders at the provider, by provider and what they found.", 15, query_labels,
	query_values, NULL};
static const char *const refund_names[] = {"succeeded", "pending", "failed", "error", "retry"};
static const char *const refund_labels[] = {OUTCOMES5("succeeded", "pending", "failed", "error", "retry")};
static _Atomic uint64_t refund_values[15];
static struct srv_counters refund_counters = {"wattle_refunds_total",
	"Refund requests to and queries of the provider, by provider and answer (error: no answer).", 15, refund_labels,
	refund_values, NULL};

/* Index of outcome in names (5), or -1. */
static int outcome_index(const char *const *names, const char *outcome)
{
	for (int i = 0; i < 5; i++)
		if (!strcmp(names[i], outcome))
			return i;
	return -1;
}

static void count5(struct srv_counters *c, const char *const *names, enum pay_provider p, const char *outcome)
{
	int i = outcome_index(names, outcome);
	if (i >= 0 && (unsigned)p < PROV__COUNT)
		srv_counters_add(c, (int)p * 5 + i, 1);
}

int64_t pay_backoff_us(int attempts)
{
	const int64_t max = 600 * INT64_C(1000000);
	int64_t step = cfg.query_after_s * INT64_C(1000000);
	for (int i = 0; i < attempts && step < max; i++)
		step *= 2;
	return step < max ? step : max;
}

void api_order_count(enum pay_provider p, const char *outcome) { count5(&order_counters, order_names, p, outcome); }
void api_query_count(enum pay_provider p, const char *outcome) { count5(&query_counters, query_names, p, outcome); }
void api_refund_count(enum pay_provider p, const char *outcome) { count5(&refund_counters, refund_names, p, outcome); }

void api_register_statements_payments(void);
void api_register_statements_payments(void)
{
	store_payments_register();
	store_refunds_register();
	store_reconciliations_register();
}

/* ---- configuration ---- */

static EVP_PKEY *load_pubkey(const char *var, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		srv_log(LOG_ERROR, "payments: %s: cannot open %s", var, path);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!k) { /* a platform certificate holds the key too */
		rewind(f);
		X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
		if (x) {
			k = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		srv_log(LOG_ERROR, "payments: %s: %s holds no RSA public key (PEM)", var, path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static EVP_PKEY *load_privkey(const char *var, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		srv_log(LOG_ERROR, "payments: %s: cannot open %s", var, path);
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		srv_log(LOG_ERROR, "payments: %s: %s holds no RSA private key (PEM)", var, path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static bool set(const char *v) { return v && *v; }

/* All of a provider's settings or none: half a configuration is a mistake to report. */
static int need_all(const char *provider, const char *const *names, const char *const *vals)
{
	int have = 0, n = 0;
	for (; names[n]; n++)
		have += set(vals[n]);
	if (have == 0)
		return 0;
	if (have == n)
		return 1;
	for (int i = 0; names[i]; i++)
		if (!set(vals[i]))
			srv_log(LOG_ERROR, "payments: %s is configured in part: %s is missing", provider, names[i]);
	return -1;
}

int api_payments_start(const struct api_pay_settings *ps)
{
	static const char *const wx[] = {"WATTLE_WECHAT_APIV3_KEY", "WATTLE_WECHAT_PLATFORM_PUBKEY",
					 "WATTLE_WECHAT_PLATFORM_SERIAL", "WATTLE_WECHAT_MCHID", NULL};
	static const char *const ali[] = {"WATTLE_ALIPAY_PUBKEY", "WATTLE_ALIPAY_APP_ID", NULL};
	static const char *const st[] = {"WATTLE_STRIPE_WEBHOOK_SECRET", NULL};
	const char *wxv[] = {ps->wx_apiv3_key, ps->wx_pubkey_path, ps->wx_serial, ps->wx_mchid};
	const char *aliv[] = {ps->ali_pubkey_path, ps->ali_app_id};
	const char *stv[] = {ps->stripe_secret};
	int w = need_all("wechat", wx, wxv), a = need_all("alipay", ali, aliv), s = need_all("stripe", st, stv);
	if (w < 0 || a < 0 || s < 0)
		return -1;
	if (w) {
		if (strlen(ps->wx_apiv3_key) != 32) {
			srv_log(LOG_ERROR, "payments: WATTLE_WECHAT_APIV3_KEY must be the 32-byte APIv3 key");
			return -1;
		}
		memcpy(cfg.wx_key, ps->wx_apiv3_key, 32);
		if (!(cfg.wx_pub = load_pubkey("WATTLE_WECHAT_PLATFORM_PUBKEY", ps->wx_pubkey_path)))
			return -1;
		cfg.wx_serial = ps->wx_serial;
		cfg.wx_mchid = ps->wx_mchid;
	}
	if (a) {
		if (!(cfg.ali_pub = load_pubkey("WATTLE_ALIPAY_PUBKEY", ps->ali_pubkey_path)))
			return -1;
		cfg.ali_app_id = ps->ali_app_id;
	}
	if (s)
		cfg.stripe_secret = ps->stripe_secret;
	/* Calling the providers needs the merchant's own credentials, and for WeChat and Alipay
	 * the notification settings too: their answers are checked with the same keys. */
	static const char *const wxo[] = {"WATTLE_WECHAT_APPID", "WATTLE_WECHAT_MERCHANT_KEY",
					  "WATTLE_WECHAT_MERCHANT_SERIAL", NULL};
	static const char *const alio[] = {"WATTLE_ALIPAY_APP_PRIVATE_KEY", NULL};
	static const char *const sto[] = {"WATTLE_STRIPE_SECRET_KEY", NULL};
	const char *wxov[] = {ps->wx_appid, ps->wx_merchant_key_path, ps->wx_merchant_serial};
	const char *aliov[] = {ps->ali_app_private_key_path};
	const char *stov[] = {ps->stripe_secret_key};
	int wo = need_all("wechat", wxo, wxov), ao = need_all("alipay", alio, aliov), so = need_all("stripe", sto, stov);
	if (wo < 0 || ao < 0 || so < 0)
		return -1;
	if ((wo && !w) || (ao && !a)) {
		srv_log(LOG_ERROR, "payments: calling %s needs its notification settings too (its answers are"
				   " checked with the same keys)", wo && !w ? "wechat" : "alipay");
		return -1;
	}
	if (wo) {
		if (!(cfg.wx_merchant = load_privkey("WATTLE_WECHAT_MERCHANT_KEY", ps->wx_merchant_key_path)))
			return -1;
		cfg.wx_appid = ps->wx_appid;
		cfg.wx_merchant_serial = ps->wx_merchant_serial;
	}
	if (ao && !(cfg.ali_priv = load_privkey("WATTLE_ALIPAY_APP_PRIVATE_KEY", ps->ali_app_private_key_path)))
		return -1;
	cfg.stripe_key = so ? ps->stripe_secret_key : NULL;
	cfg.wx_api_base = set(ps->wx_api_base) ? ps->wx_api_base : "https://api.mch.weixin.qq.com";
	cfg.ali_gateway = set(ps->ali_gateway) ? ps->ali_gateway : "https://openapi.alipay.com/gateway.do";
	cfg.stripe_api_base = set(ps->stripe_api_base) ? ps->stripe_api_base : "https://api.stripe.com";
	cfg.public_url = set(ps->public_url) ? ps->public_url : "";
	cfg.timeout_ms = ps->timeout_ms > 0 ? (long)ps->timeout_ms : 10000;
	if ((wo || ao) && !set(ps->public_url)) {
		srv_log(LOG_ERROR, "payments: WATTLE_PUBLIC_URL is needed to call %s: its orders carry the"
				   " notify_url built from it", wo ? "wechat" : "alipay");
		return -1;
	}
	cfg.out[PROV_WECHAT] = wo;
	cfg.out[PROV_ALIPAY] = ao;
	cfg.out[PROV_STRIPE] = so;
	cfg.on[PROV_WECHAT] = w;
	cfg.on[PROV_ALIPAY] = a;
	cfg.on[PROV_STRIPE] = s;
	cfg.pay_url = set(ps->pay_url) ? ps->pay_url : NULL;
	cfg.ttl_s = ps->order_ttl_s > 0 ? ps->order_ttl_s : 1800;
	srv_counters_register(&note_counters);
	srv_counters_register(&order_counters);
	srv_counters_register(&query_counters);
	srv_counters_register(&refund_counters);
	cfg.query_after_s = ps->query_after_s > 0 ? ps->query_after_s : 30;
	cfg.reconcile_hour = ps->reconcile_hour;
	srv_log(LOG_INFO, "payments: wechat %s%s, alipay %s%s, stripe %s%s", w ? "on" : "off",
		wo ? " (orders at the provider)" : "", a ? "on" : "off", ao ? " (orders at the provider)" : "",
		s ? "on" : "off", so ? " (orders at the provider)" : "");
	return 0;
}

void api_payments_stop(void)
{
	EVP_PKEY_free(cfg.wx_pub);
	EVP_PKEY_free(cfg.ali_pub);
	EVP_PKEY_free(cfg.wx_merchant);
	EVP_PKEY_free(cfg.ali_priv);
	OPENSSL_cleanse(cfg.wx_key, sizeof cfg.wx_key);
	memset(&cfg, 0, sizeof cfg);
}

/* ---- settling ---- */

struct settle_tx {
	struct req *rq;
	struct pay_note *n;
	bool refund;
	struct pay_result res;
};

static enum db_status settle_tx(PGconn *c, void *arg)
{
	struct settle_tx *t = arg;
	enum pay_err err;
	t->n->now_us = srv_clock_now_us();
	enum db_status st = t->refund ? op_payment_refund(c, t->n, &t->res, &err) : op_payment_credit(c, t->n, &t->res, &err);
	if (st == DB_OK && !err && (t->res.out == PAY_CREDITED || t->res.out == PAY_REFUND))
		st = api_audit(c, t->rq, t->res.out == PAY_CREDITED ? "payment.credit" : "payment.refund",
			       json_pack("{s:s, s:s, s:s?, s:I, s:s}", "provider", pay_provider_names[t->n->prov], "txn",
					 t->n->txn, "order", t->n->out_trade_no, "amount_minor", (json_int_t)t->n->amount,
					 "currency", t->n->currency));
	if (st != DB_OK || !err)
		return st;
	switch (err) {
	case PAY_OK:
		break;
	case PAY_UNKNOWN_PAYMENT:
		api_error(t->rq, E_NOT_FOUND, NULL, "no payment %s from %s", t->n->txn, pay_provider_names[t->n->prov]);
		break;
	case PAY_REFUND_TOO_LARGE:
		api_error(t->rq, E_REFUSED, NULL, "the refund is larger than what is left of the payment");
		break;
	case PAY_POST_FAILED:
		api_error(t->rq, E_INTERNAL, NULL, "the refund could not be posted");
		break;
	}
	return DB_ABORT;
}

int pay_settle(struct req *rq, struct pay_note *n, json_t *event, bool refund, enum pay_outcome *out)
{
	char *ev = json_dumps(event, JSON_COMPACT);
	n->event_json = ev;
	n->request_id = rq->request_id;
	struct settle_tx t = {rq, n, refund, {PAY_IGNORED, NULL, 0, 0}};
	enum db_status st = db_run_tx(settle_tx, &t);
	free(ev);
	n->event_json = NULL;
	*out = t.res.out;
	if (api_tx_failed(rq, st))
		return -1;
	pay_count(n->prov, t.res.out);
	const char *what = t.res.out == PAY_CREDITED ? "credited"
			   : t.res.out == PAY_REPLAY  ? "already recorded"
			   : t.res.out == PAY_REFUND  ? "refund recorded"
						      : "kept as a conflict";
	srv_log(t.res.out == PAY_CONFLICT ? LOG_WARN : LOG_INFO,
		"payments: %s %s %s %lld %s (order %s): %s%s%s", pay_provider_names[n->prov],
		refund ? "refund for" : "payment", n->txn, (long long)n->amount, n->currency,
		n->out_trade_no ? n->out_trade_no : "none", what,
		t.res.conflict ? ": " : "", t.res.conflict ? t.res.conflict : "");
	return 0;
}

void pay_refuse(struct req *rq, enum pay_provider prov, enum api_err e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	api_error(rq, e, NULL, "%s", msg);
	pay_count(prov, PAY_REFUSED);
	srv_log(LOG_WARN, "payments: %s notification refused: %s (request %s)", pay_provider_names[prov], msg,
		rq->request_id);
}

void pay_provider_reply(struct req *rq, enum pay_provider prov)
{
	if (rq->status < 400 || prov == PROV_STRIPE)
		return;
	json_t *err = json_object_get(rq->reply, "error");
	const char *msg = json_string_value(json_object_get(err, "message"));
	if (prov == PROV_WECHAT)
		api_reply(rq, rq->status, json_pack("{s:s, s:s}", "code", "FAIL", "message", msg ? msg : "error"));
	else
		api_reply_raw(rq, rq->status, "text/plain; charset=utf-8", "fail", 4);
}

bool pay_configured(struct req *rq, enum pay_provider prov)
{
	if (cfg.on[prov])
		return true;
	api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s is not configured on this server",
		  pay_provider_names[prov]);
	pay_count(prov, PAY_REFUSED);
	srv_log(LOG_ERROR, "payments: a %s notification arrived but %s is not configured",
		pay_provider_names[prov], pay_provider_names[prov]);
	return false;
}

json_t *pay_parse_json(const char *s, size_t n)
{
	json_error_t e;
	json_t *j = json_loadb(s ? s : "", n, JSON_REJECT_DUPLICATES, &e);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

void pay_upcase(char out[4], const char *s)
{
	snprintf(out, 4, "%s", s ? s : "");
	for (int i = 0; out[i]; i++)
		if (out[i] >= 'a' && out[i] <= 'z')
			out[i] = (char)(out[i] - 'a' + 'A');
}
