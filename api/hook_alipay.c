/* hook_alipay.c: POST /v1/webhooks/payments/alipay, an Alipay asynchronous notification:
 * a form whose sorted, decoded parameters (all but sign and sign_type) are signed RSA2 with
 * Alipay's key, the app ours. Answers the text "success", or "fail" with the error's status.
 * Alipay notifications carry no timestamp to bound; replays are harmless (UNIQUE payment). */
#include "api/payments.h"
#include "core/money.h"
#include "core/paysig.h"
#include "core/valid.h"

#include <string.h>

static json_t *form_json(const struct bill_form *f)
{
	json_t *o = json_object();
	for (size_t i = 0; i < f->n; i++)
		json_object_set_new(o, f->keys[i], json_string(f->vals[i]));
	return o;
}

static void alipay(struct req *rq)
{
	const enum pay_provider A = PROV_ALIPAY;
	struct bill_form f;
	json_t *ev = NULL;
	if (bill_form_parse(rq->body ? rq->body : "", rq->body_len, &f)) {
		pay_refuse(rq, A, E_INVALID_FIELD, "the body is not a well-formed form");
		goto out;
	}
	enum bill_sig sig = bill_alipay_verify(pay_cfg.ali_pub, &f);
	if (sig != SIG_OK) {
		pay_refuse(rq, A, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		goto out;
	}
	const char *app = bill_form_get(&f, "app_id");
	if (!app || strcmp(app, pay_cfg.ali_app_id)) {
		pay_refuse(rq, A, E_FORBIDDEN, "app_id %s is not ours", app ? app : "(none)");
		goto out;
	}
	ev = form_json(&f);
	const char *status = bill_form_get(&f, "trade_status"), *refund_fee = bill_form_get(&f, "refund_fee");
	const char *cur = bill_form_get(&f, "trans_currency");
	struct pay_note pn = {.prov = A};
	pn.txn = bill_form_get(&f, "trade_no");
	pn.out_trade_no = bill_form_get(&f, "out_trade_no");
	pay_upcase(pn.currency, cur && *cur ? cur : "CNY");
	int digits = 2;
	if (!api_valid_currency(pn.currency, &digits) || !pn.txn || !*pn.txn || !status) {
		pay_refuse(rq, A, E_INVALID_FIELD, "a notification needs trade_no, trade_status and a known currency");
		goto out;
	}
	/* A refund arrives as a notification carrying refund_fee: the total refunded so far
	 * ("0.00", or none, on a payment). */
	int64_t refund_total = 0;
	bool refund = refund_fee && *refund_fee && bill_parse_decimal(refund_fee, digits, MAX_AMOUNT, &refund_total) == 0 &&
		      refund_total > 0;
	if (refund_fee && *refund_fee && bill_parse_decimal(refund_fee, digits, MAX_AMOUNT, &refund_total)) {
		pay_refuse(rq, A, E_INVALID_FIELD, "refund_fee is not an amount in %s", pn.currency);
		goto out;
	}
	const char *amount = refund ? refund_fee : bill_form_get(&f, "total_amount");
	bool pays = !strcmp(status, "TRADE_SUCCESS") || !strcmp(status, "TRADE_FINISHED");
	if (!refund && !pays) { /* WAIT_BUYER_PAY, TRADE_CLOSED unpaid: nothing moved */
		pay_count(A, PAY_IGNORED);
		api_reply_raw(rq, 200, "text/plain; charset=utf-8", "success", 7);
		goto out;
	}
	if (!amount || bill_parse_decimal(amount, digits, MAX_AMOUNT, &pn.amount)) {
		pay_refuse(rq, A, E_INVALID_FIELD, "%s is not an amount in %s", refund ? "refund_fee" : "total_amount",
		       pn.currency);
		goto out;
	}
	if (!refund && !pn.out_trade_no) {
		pay_refuse(rq, A, E_INVALID_FIELD, "a payment needs out_trade_no");
		goto out;
	}
	pn.refund_cumulative = refund;
	pn.out_refund_no = bill_form_get(&f, "out_biz_no"); /* our out_request_no, on a refund */
	/* TRADE_FINISHED after TRADE_SUCCESS carries the same trade_no: already recorded. */
	enum pay_outcome o;
	if (pay_settle(rq, &pn, ev, refund, &o) == 0)
		api_reply_raw(rq, 200, "text/plain; charset=utf-8", "success", 7);
out:
	json_decref(ev);
	bill_form_free(&f);
}

void api_hook_alipay(struct req *rq)
{
	if (pay_configured(rq, PROV_ALIPAY))
		alipay(rq);
	pay_provider_reply(rq, PROV_ALIPAY);
}

