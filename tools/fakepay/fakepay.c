/* fakepay.c: the fakes' shared state (fakepay.h). */
#include "fakepay.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void handle(void *ud, const struct peer_request *r, struct peer_reply *out)
{
	struct fakepay *f = ud;
	pthread_mutex_lock(&f->mu);
	int delay = f->delay_ms;
	pthread_mutex_unlock(&f->mu);
	if (delay > 0)
		usleep((useconds_t)delay * 1000);
	if (!strcmp(f->provider, "wechat"))
		fake_wechat(f, r, out);
	else if (!strcmp(f->provider, "alipay"))
		fake_alipay(f, r, out);
	else
		fake_stripe(f, r, out);
}

struct fakepay *fakepay_start(const char *provider, const struct fakepay_keys *k)
{
	struct fakepay *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	snprintf(f->provider, sizeof f->provider, "%s", provider);
	pthread_mutex_init(&f->mu, NULL);
	f->client_pub = k->client_pub;
	f->sign_key = k->sign_key;
	snprintf(f->mchid, sizeof f->mchid, "%s", k->mchid ? k->mchid : "");
	snprintf(f->appid, sizeof f->appid, "%s", k->appid ? k->appid : "");
	snprintf(f->merchant_serial, sizeof f->merchant_serial, "%s", k->merchant_serial ? k->merchant_serial : "");
	snprintf(f->platform_serial, sizeof f->platform_serial, "%s", k->platform_serial ? k->platform_serial : "");
	snprintf(f->secret, sizeof f->secret, "%s", k->secret ? k->secret : "");
	if (!(f->peer = peer_start(0, handle, f))) {
		pthread_mutex_destroy(&f->mu);
		free(f);
		return NULL;
	}
	f->port = peer_port(f->peer);
	return f;
}

void fakepay_stop(struct fakepay *f)
{
	if (!f)
		return;
	peer_stop(f->peer);
	pthread_mutex_destroy(&f->mu);
	free(f->trades);
	free(f->refunds);
	free(f);
}

const char *fakepay_base(const struct fakepay *f, char *buf, size_t n)
{
	snprintf(buf, n, "http://127.0.0.1:%d%s", f->port, !strcmp(f->provider, "alipay") ? "/gateway.do" : "");
	return buf;
}

struct fake_trade *fake_trade_find(struct fakepay *f, const char *out_trade_no, const char *ref)
{
	for (size_t i = 0; i < f->ntrades; i++)
		if ((out_trade_no && *out_trade_no && !strcmp(f->trades[i].out_trade_no, out_trade_no)) ||
		    (ref && *ref && !strcmp(f->trades[i].ref, ref)))
			return &f->trades[i];
	return NULL;
}

struct fake_trade *fake_trade_add(struct fakepay *f)
{
	if (f->ntrades == f->trades_cap) {
		f->trades_cap = f->trades_cap ? 2 * f->trades_cap : 64;
		if (!(f->trades = realloc(f->trades, f->trades_cap * sizeof *f->trades)))
			abort();
	}
	struct fake_trade *t = &f->trades[f->ntrades++];
	memset(t, 0, sizeof *t);
	t->bill_amount = -1;
	return t;
}

struct fake_refund *fake_refund_find(struct fakepay *f, const char *out_refund_no)
{
	for (size_t i = 0; out_refund_no && i < f->nrefunds; i++)
		if (!strcmp(f->refunds[i].out_refund_no, out_refund_no))
			return &f->refunds[i];
	return NULL;
}

struct fake_refund *fake_refund_add(struct fakepay *f)
{
	if (f->nrefunds == f->refunds_cap) {
		f->refunds_cap = f->refunds_cap ? 2 * f->refunds_cap : 64;
		if (!(f->refunds = realloc(f->refunds, f->refunds_cap * sizeof *f->refunds)))
			abort();
	}
	struct fake_refund *r = &f->refunds[f->nrefunds++];
	memset(r, 0, sizeof *r);
	return r;
}

void fake_refuse(struct fakepay *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->last_refusal, sizeof f->last_refusal, fmt, ap);
	va_end(ap);
	f->refused++;
	fprintf(stderr, "fakepay %s: refused: %s\n", f->provider, f->last_refusal);
}

void fake_id(struct fakepay *f, const char *prefix, char out[64])
{
	snprintf(out, 64, "%s%lld%06u", prefix, (long long)time(NULL), ++f->seq);
}

int fakepay_pay(struct fakepay *f, const char *out_trade_no, char txn[64])
{
	pthread_mutex_lock(&f->mu);
	struct fake_trade *t = fake_trade_find(f, out_trade_no, NULL);
	int rc = -1;
	/* past its time_expire (or expires_at) nobody can pay it, as at the providers */
	if (t && t->state == FT_OPEN && (!t->expires_s || (int64_t)time(NULL) < t->expires_s)) {
		static const char *const prefix[] = {"4200", "2026", "pi_"};
		int i = !strcmp(f->provider, "wechat") ? 0 : !strcmp(f->provider, "alipay") ? 1 : 2;
		fake_id(f, prefix[i], t->txn);
		t->state = FT_PAID;
		t->paid_s = (int64_t)time(NULL);
		if (txn)
			snprintf(txn, 64, "%s", t->txn);
		rc = 0;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int fakepay_trade(struct fakepay *f, const char *out_trade_no, struct fake_trade *out)
{
	pthread_mutex_lock(&f->mu);
	struct fake_trade *t = fake_trade_find(f, out_trade_no, NULL);
	if (t)
		*out = *t;
	pthread_mutex_unlock(&f->mu);
	return t ? 0 : -1;
}

int fakepay_refund_settle(struct fakepay *f, bool succeed)
{
	pthread_mutex_lock(&f->mu);
	int n = 0;
	for (size_t i = 0; i < f->nrefunds; i++)
		if (f->refunds[i].state == FR_PENDING) {
			f->refunds[i].state = succeed ? FR_SUCCEEDED : FR_FAILED;
			n++;
		}
	pthread_mutex_unlock(&f->mu);
	return n;
}

unsigned fakepay_calls(struct fakepay *f, enum fake_call c)
{
	pthread_mutex_lock(&f->mu);
	unsigned n = f->calls[c];
	pthread_mutex_unlock(&f->mu);
	return n;
}

unsigned fakepay_refused(struct fakepay *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned n = f->refused;
	pthread_mutex_unlock(&f->mu);
	return n;
}
