/* fakepay.h: local fakes of WeChat Pay v3, Alipay's open API and Stripe, for the tests, the
 * bench and the demo. Each checks what the real provider checks (WeChat: the merchant's
 * WECHATPAY2-SHA256-RSA2048 signature with the merchant public key, User-Agent and Accept;
 * Alipay: RSA2 over the sorted parameters with the application public key; Stripe: the
 * bearer secret key, form encoding, Idempotency-Key) and signs its answers as the provider
 * does (WeChat: Wechatpay-* headers with the platform key; Alipay: "sign" over the exact
 * response JSON with the Alipay key). A request that fails a check is refused as the
 * provider refuses it, and counted in refused.
 *
 * Its state is a list of trades (orders) and refunds that tests drive: fakepay_pay is the
 * tenant paying at the provider. One file per provider (fake_wechat.c, fake_alipay.c,
 * fake_stripe.c) answers the provider's paths; fakepay.c is the shared state. */
#ifndef WATTLE_FAKEPAY_H
#define WATTLE_FAKEPAY_H

#include "peer/peer.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum fake_state { FT_OPEN, FT_PAID, FT_CLOSED };

struct fake_trade {
	char out_trade_no[64];
	char ref[128];     /* Stripe: cs_...; WeChat JSAPI: prepay_id; else "" */
	char txn[64];      /* set when paid: WeChat transaction_id, Alipay trade_no, Stripe pi_... */
	char currency[4];
	char notify_url[512];
	char description[256];
	char openid[64];   /* WeChat JSAPI */
	char mode[16];     /* "native", "jsapi", "precreate", "wap", "checkout" */
	int64_t amount, refunded;
	int64_t created_s, expires_s, paid_s;
	enum fake_state state;
	/* reconciliation: what the bill says instead (-1: the amount), or leave it out */
	int64_t bill_amount;
	bool bill_hide;
	char idem_key[128]; /* Stripe: the Idempotency-Key that created it */
};

enum fake_refund_state { FR_PENDING, FR_SUCCEEDED, FR_FAILED };
struct fake_refund {
	char out_refund_no[64], refund_id[64], txn[64], reason[256], idem_key[128];
	int64_t amount, created_s;
	enum fake_refund_state state;
};

/* What a test adds to a day's bill: a line the fake has no trade for. */
struct fake_bill_extra {
	char date[11], txn[64], out_trade_no[64];
	int64_t amount, at_s;
};

enum fake_call { FC_CREATE, FC_QUERY, FC_CLOSE, FC_REFUND, FC_REFUND_QUERY, FC_BILL, FC__COUNT };

struct fakepay {
	char provider[8]; /* "wechat", "alipay", "stripe" */
	struct peer *peer;
	int port;
	pthread_mutex_t mu; /* guards everything below */
	struct fake_trade *trades;
	size_t ntrades, trades_cap;
	struct fake_refund *refunds;
	size_t nrefunds, refunds_cap;
	struct fake_bill_extra extras[64];
	size_t nextras;
	unsigned calls[FC__COUNT]; /* requests that passed the checks, by kind */
	unsigned refused;          /* requests refused for a failed check */
	char last_refusal[256];    /* why the last was refused */
	int delay_ms;              /* answer every request this much later */
	char refuse_create[64];    /* refuse order creation with this code while not "" */
	bool refund_pending;       /* refunds stay pending (PROCESSING) until fakepay_refund_settle */
	bool bad_answer_sig;       /* sign answers with the wrong key (WeChat, Alipay): wattle must refuse them */
	unsigned seq;              /* for ids */
	/* keys and ids, set by fakepay_start */
	EVP_PKEY *client_pub; /* WeChat: the merchant's public key; Alipay: the application's */
	EVP_PKEY *sign_key;   /* WeChat: the platform private key; Alipay: Alipay's private key */
	char mchid[32], appid[64], merchant_serial[64], platform_serial[64];
	char secret[128]; /* Stripe: the secret key (sk_test_...) */
	/* ---- Stripe (fake_stripe.c) ---- */
	struct fake_stripe_idem {
		char key[256], route[192]; /* the Idempotency-Key; "POST /v1/..." it was used on */
		unsigned char digest[32];  /* SHA-256 of the body */
		unsigned status;
		char answer[4096];
	} stripe_idem[128];          /* saved first answers (the oldest overwritten) */
	unsigned stripe_nidem;       /* how many were ever saved */
	unsigned stripe_page_limit;  /* list pages hold at most this many (0: the limit asked) */
	char stripe_last_body[4096]; /* the last POST body that passed the checks */
	/* ---- end Stripe ---- */
	/* ---- WeChat only (fake_wechat.c) ---- */
	bool wx_bill_tamper;  /* the bill file is changed after its hash_value was signed */
	bool wx_bill_reorder; /* the bill's columns in reverse order (WeChat's layouts differ by bill type) */
	/* ---- end WeChat ---- */
};

struct fakepay_keys {
	EVP_PKEY *client_pub, *sign_key; /* borrowed for the fake's life (not Stripe) */
	const char *mchid, *appid, *merchant_serial, *platform_serial; /* WeChat; appid also Alipay */
	const char *secret; /* Stripe */
};

/* Start provider's fake on a free port of 127.0.0.1. NULL when it cannot listen. */
struct fakepay *fakepay_start(const char *provider, const struct fakepay_keys *k);
void fakepay_stop(struct fakepay *f); /* NULL: nothing */
/* "http://127.0.0.1:<port>" plus the provider's base path (Alipay: "/gateway.do"), for
 * WATTLE_WECHAT_API_BASE, WATTLE_ALIPAY_GATEWAY or WATTLE_STRIPE_API_BASE; into buf. */
const char *fakepay_base(const struct fakepay *f, char *buf, size_t n);

/* The tenant pays the open trade with this out_trade_no: it becomes paid now with a new
 * txn (copied into txn[64] when not NULL). 0, or -1 when there is no such open trade (or
 * it is past its expiry). */
int fakepay_pay(struct fakepay *f, const char *out_trade_no, char txn[64]);
/* The trade with this out_trade_no, copied into *out; -1 when none. */
int fakepay_trade(struct fakepay *f, const char *out_trade_no, struct fake_trade *out);
/* Settle pending refunds as succeeded (or failed). How many it settled. */
int fakepay_refund_settle(struct fakepay *f, bool succeed);
unsigned fakepay_calls(struct fakepay *f, enum fake_call c);
unsigned fakepay_refused(struct fakepay *f);

/* For the provider files, under f->mu: */
struct fake_trade *fake_trade_find(struct fakepay *f, const char *out_trade_no, const char *ref);
struct fake_trade *fake_trade_add(struct fakepay *f); /* zeroed, bill_amount -1 */
struct fake_refund *fake_refund_find(struct fakepay *f, const char *out_refund_no);
struct fake_refund *fake_refund_add(struct fakepay *f);
/* Refuse the request: counted, remembered in last_refusal (printf), logged to stderr. */
void fake_refuse(struct fakepay *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A new id "<prefix><n>" into out[64], unique in this fake. */
void fake_id(struct fakepay *f, const char *prefix, char out[64]);

/* ---- Alipay (fake_alipay.c) ---- */
/* The buyer scans the precreated code (or opens the wap cashier) of this open trade: Alipay
 * knows the trade from now on (it has a trade_no; query says WAIT_BUYER_PAY). Before, as at
 * Alipay, query and close answer ACQ.TRADE_NOT_EXIST. 0, or -1 when there is no open trade
 * (or its code died with time_expire). */
int fake_alipay_scan(struct fakepay *f, const char *out_trade_no);

/* The providers' halves (called with f->mu not held; they lock it). */
void fake_wechat(struct fakepay *f, const struct peer_request *r, struct peer_reply *out);
void fake_alipay(struct fakepay *f, const struct peer_request *r, struct peer_reply *out);
void fake_stripe(struct fakepay *f, const struct peer_request *r, struct peer_reply *out);

#endif
