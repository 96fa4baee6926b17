/* payments.h: what the payment adapters share (api/payments.c): the providers' settings
 * loaded at start, the notifications counter, and settling a checked notification through
 * ops/payment.c with a log line. One file per provider webhook (hook_*.c), orders.c and
 * conflicts.c use it. Internal to api/. */
#ifndef WATTLE_API_PAYMENTS_H
#define WATTLE_API_PAYMENTS_H

#include "api/api.h"
#include "ops/payment.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#define ID_ORDER "ord"
#define ID_PAYMENT "pay"
#define ID_CONFLICT "pcf"

/* Amounts are bounded far inside int64, as for cashier top-ups. */
#define MAX_AMOUNT INT64_C(1000000000000000)

/* Loaded once by api_payments_start before serving; read-only after. */
struct pay_cfg {
	bool on[PROV__COUNT];
	unsigned char wx_key[32];
	EVP_PKEY *wx_pub;
	const char *wx_serial, *wx_mchid;
	EVP_PKEY *ali_pub;
	const char *ali_app_id;
	const char *stripe_secret;
	const char *pay_url;
	int64_t ttl_s;
	/* Calling the providers (provider.h): out[p] when p's API credentials are all given. */
	bool out[PROV__COUNT];
	const char *wx_api_base, *wx_appid, *wx_merchant_serial;
	EVP_PKEY *wx_merchant; /* the merchant private key: signs our requests */
	const char *ali_gateway;
	EVP_PKEY *ali_priv; /* the application private key: signs our requests */
	const char *stripe_api_base, *stripe_key;
	const char *public_url; /* notify_url = public_url + /v1/webhooks/payments/<provider> */
	long timeout_ms;
	int64_t query_after_s; /* the first query of an open order, and the backoff's unit */
	int64_t reconcile_hour; /* yesterday's bills are reconciled after this hour, site time */
};
extern struct pay_cfg pay_cfg;

/* wattle_payment_notifications_total{provider,outcome}. */
void pay_count(enum pay_provider p, enum pay_outcome o);
/* Asking a provider again after attempts answers: WATTLE_PAY_QUERY_AFTER_S doubling per
 * attempt, at most 10 minutes (microseconds). */
int64_t pay_backoff_us(int attempts);

/* wattle_topup_orders_total{provider,outcome}: outcome "created", "refused",
 * "timeout", "error", "closed" (closed at the provider when it expired unpaid). */
void api_order_count(enum pay_provider p, const char *outcome);
/* wattle_payment_queries_total{provider,outcome}: what asking the provider about an order
 * found: "paid", "open", "closed", "unknown", "error". */
void api_query_count(enum pay_provider p, const char *outcome);
/* wattle_refunds_total{provider,outcome}: "succeeded", "pending", "failed", "error", "retry". */
void api_refund_count(enum pay_provider p, const char *outcome);

/* Whether prov is configured; if not, reply 503 provider_not_configured (counted, logged):
 * without the secret, no notification is genuine. */
bool pay_configured(struct req *rq, enum pay_provider prov);

/* Refuse a notification: the error table's status, counted as refused, logged. */
void pay_refuse(struct req *rq, enum pay_provider prov, enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Run the transaction for a checked notification (event: the provider's body, stored with
 * the payment); on success count and log it and return 0 (the provider may be told
 * "received"), else -1 with an error reply set. out gets the outcome. */
int pay_settle(struct req *rq, struct pay_note *n, json_t *event, bool refund, enum pay_outcome *out);

/* Turn our error reply into the provider's: WeChat {"code":"FAIL","message"}, Alipay the
 * text "fail". Stripe reads only the status. */
void pay_provider_reply(struct req *rq, enum pay_provider prov);

/* A JSON object from s[0..n), or NULL. */
json_t *pay_parse_json(const char *s, size_t n);

/* Upper-case currency code into out[4]. */
void pay_upcase(char out[4], const char *s);

#endif
