/* provider.h: wattle calling the payment providers (hook_*.c is the other direction): create
 * a top-up order, ask how it stands, close it, refund a payment and ask how the refund
 * stands, fetch a day's bill. Each call is one blocking HTTPS exchange through libcurl,
 * signed as the provider documents, whose answer's signature is checked where the provider
 * signs it. Never called inside a database transaction: the order or refund row exists
 * before the call and records its outcome after.
 *
 * One file per provider (prov_wechat.c, prov_alipay.c, prov_stripe.c); the exchange
 * itself, the settings and the dispatch by provider are provider.c. Internal to api/ and the
 * server's workers. */
#ifndef WATTLE_API_PROVIDER_H
#define WATTLE_API_PROVIDER_H

#include "api/payments.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a call went. Every call fills one, whatever it returns. */
enum prov_result {
	PR_OK,
	PR_REFUSED, /* the provider answered no: code and message are its own */
	PR_TIMEOUT, /* no answer within WATTLE_PAY_TIMEOUT_MS: the outcome is unknown */
	PR_ERROR,   /* transport failure, an answer we cannot read, or a bad signature */
};
struct prov_status {
	enum prov_result result;
	long http_status; /* 0: no answer */
	/* PR_REFUSED: the provider's code (WeChat "code", Alipay "sub_code" or "code", Stripe
	 * error.code or error.type); else our word: "timeout", "transport", "bad_reply",
	 * "bad_signature". Never holds a secret. */
	char code[64];
	char message[256];
};
/* "ok", "refused", "timeout", "error" */
const char *prov_result_name(enum prov_result r);

/* ---- orders ---- */

struct prov_order_req {
	const char *out_trade_no; /* ours, 26 characters */
	int64_t order_id, tenant_id;
	int64_t amount_minor;
	const char *currency;    /* upper case */
	const char *description; /* "<site> <shop>: electricity top-up", UTF-8 */
	int64_t expires_s;       /* unix seconds: the order dies then */
	int64_t now_s;
	bool h5;            /* Alipay: alipay.trade.wap.pay for a phone browser */
	const char *openid; /* WeChat: JSAPI inside the official account, else NULL (Native) */
};
struct prov_order {
	char pay_url[1024];     /* code_url, qr_code, the wap pay URL, the Checkout url; "" for JSAPI */
	char provider_ref[256]; /* Stripe: the Checkout Session id; WeChat JSAPI: prepay_id; else "" */
	/* WeChat JSAPI: {"appId","timeStamp","nonceStr","package","signType":"RSA","paySign"}
	 * for the page's WeixinJSBridge (new; caller decrefs); else NULL. */
	json_t *pay_params;
};
/* 0 when the order exists at the provider (st->result PR_OK), else -1. */
int prov_order_create(enum pay_provider p, const struct prov_order_req *rq, struct prov_order *out,
		      struct prov_status *st);

enum prov_trade_state {
	TRADE_OPEN,    /* not paid (yet) */
	TRADE_PAID,    /* paid: txn, amount and currency set */
	TRADE_CLOSED,  /* closed or expired at the provider: it can no longer be paid */
	TRADE_UNKNOWN, /* the provider has no such order */
};
struct prov_trade {
	enum prov_trade_state state;
	char txn[130]; /* the provider's payment id, as notifications give it (WeChat
			* transaction_id, Alipay trade_no, Stripe PaymentIntent id) */
	int64_t amount_minor;
	char currency[4];
	json_t *raw; /* the provider's answer (new; caller decrefs), stored with a payment */
};
/* provider_ref as prov_order_create gave it (Stripe needs it; others may ignore it). */
int prov_order_query(enum pay_provider p, const char *out_trade_no, const char *provider_ref,
		     struct prov_trade *out, struct prov_status *st);
/* Close (WeChat, Alipay) or expire (Stripe) an unpaid order so that it can no longer be
 * paid. 0 also when it was closed already; -1 otherwise (a paid order: code "paid"). */
int prov_order_close(enum pay_provider p, const char *out_trade_no, const char *provider_ref,
		     struct prov_status *st);

/* ---- refunds ---- */

struct prov_refund_req {
	const char *txn, *out_trade_no; /* the payment, as the provider knows it */
	const char *out_refund_no;      /* ours ("rf" + the refund id): the provider keys on it, so
					 * asking twice refunds once */
	int64_t amount_minor, total_minor; /* this refund, and the payment's whole amount */
	const char *currency;
	const char *reason; /* free text: WeChat reason, Alipay refund_reason, Stripe metadata */
	const char *refund_ref; /* prov_refund_query: the provider's refund id when known, else NULL */
};
enum prov_refund_state { REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED };
struct prov_refund {
	enum prov_refund_state state;
	char refund_ref[130]; /* the provider's refund id (WeChat refund_id, Alipay
			       * out_request_no, Stripe re_...) */
	json_t *raw;          /* the provider's answer (new; caller decrefs) */
};
int prov_refund(enum pay_provider p, const struct prov_refund_req *rq, struct prov_refund *out,
		struct prov_status *st);
int prov_refund_query(enum pay_provider p, const struct prov_refund_req *rq, struct prov_refund *out,
		      struct prov_status *st);

/* ---- bills ---- */

struct prov_bill_line {
	bool refund;
	char txn[130], out_trade_no[130], refund_ref[130];
	int64_t amount_minor; /* positive, refunds too */
	char currency[4];
	int64_t at_s;
};
/* The provider's statement for date (YYYY-MM-DD; [from_s, to_s) are its bounds in the
 * site's zone, for providers that take times, e.g. Stripe). *lines new (caller frees). */
int prov_bill(enum pay_provider p, const char *date, int64_t from_s, int64_t to_s, struct prov_bill_line **lines,
	      size_t *n, struct prov_status *st);

/* Whether wattle may call p: its API credentials are configured. */
bool prov_enabled(enum pay_provider p);

/* A request's call to a provider, off the HTTP thread: rq is suspended and fn(rq, arg) runs
 * on one of the provider-call threads (api_provider_calls_start), which sets rq's reply; the
 * request is then resumed. An HTTP thread does not wait the provider's round trip, so a slow
 * provider does not hold up the rest of the API. When the pool is not running, fn runs here. */
void prov_offload(struct req *rq, void (*fn)(struct req *rq, void *arg), void *arg);

/* ---- what the provider files share (provider.c) ---- */

struct prov_http {
	const char *method; /* "GET", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; User-Agent and Accept are added */
	const char *body;           /* NULL: none */
	size_t body_len;
};
struct prov_http_reply {
	long status;
	char *body; /* NUL-terminated; new */
	size_t body_len;
	char *headers; /* the raw header block, "Name: value\r\n"...; new */
};
/* One exchange, with WATTLE_PAY_TIMEOUT_MS. 0 when an answer came (any status), else -1
 * with st set (PR_TIMEOUT or PR_ERROR "transport"). The curl handle is kept per thread so
 * connections are reused. */
int prov_http(const struct prov_http *rq, struct prov_http_reply *out, struct prov_status *st);
void prov_http_reply_free(struct prov_http_reply *r);
/* The value of header name (case-insensitive) in r, into buf; NULL when absent. */
const char *prov_http_header(const struct prov_http_reply *r, const char *name, char *buf, size_t n);

/* Set st to result with a code and a message (printf). Returns -1. */
int prov_fail(struct prov_status *st, enum prov_result result, long http_status, const char *code,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A random nonce of 32 hex characters into out[33]. */
void prov_nonce(char out[33]);

/* The per-provider halves (prov_<name>.c), called through provider.c's table. */
struct prov_ops {
	int (*order_create)(const struct prov_order_req *, struct prov_order *, struct prov_status *);
	int (*order_query)(const char *, const char *, struct prov_trade *, struct prov_status *);
	int (*order_close)(const char *, const char *, struct prov_status *);
	int (*refund)(const struct prov_refund_req *, struct prov_refund *, struct prov_status *);
	int (*refund_query)(const struct prov_refund_req *, struct prov_refund *, struct prov_status *);
	int (*bill)(const char *, int64_t, int64_t, struct prov_bill_line **, size_t *, struct prov_status *);
};
extern const struct prov_ops prov_wechat_ops, prov_alipay_ops, prov_stripe_ops;

#endif
