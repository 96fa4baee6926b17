/* hook_stripe.c: POST /v1/webhooks/payments/stripe: Stripe-Signature (t=, any v1=
 * HMAC-SHA256 of t.body with the endpoint secret, within 300 s); checkout.session.completed
 * and payment_intent.succeeded credit once by PaymentIntent; charge.refunded reports the
 * total refunded. Answers 200 {"received":true,"outcome"}. */
#include "api/payments.h"
#include "core/paysig.h"
#include "core/valid.h"

#include <string.h>
#include <time.h>

static void stripe(struct req *rq)
{
	const enum pay_provider S = PROV_STRIPE;
	/* Freshness against the wall clock, not wattle's clock module: the provider signs in
	 * real time, and a clock run fast for a test or the demo must not make it look stale. */
	enum bill_sig sig = bill_stripe_verify(pay_cfg.stripe_secret, api_header(rq, "Stripe-Signature"),
					       rq->body ? rq->body : "", rq->body_len, (int64_t)time(NULL));
	if (sig != SIG_OK) {
		pay_refuse(rq, S, E_INVALID_SIGNATURE, "signature %s", bill_sig_name(sig));
		return;
	}
	json_t *ev = pay_parse_json(rq->body, rq->body_len);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
	if (!type || !json_is_object(obj)) {
		pay_refuse(rq, S, E_MALFORMED_JSON, "not a Stripe event");
		goto out;
	}
	json_t *meta = json_object_get(obj, "metadata");
	struct pay_note pn = {.prov = S};
	const char *cur = json_string_value(json_object_get(obj, "currency"));
	pay_upcase(pn.currency, cur);
	json_t *amount = NULL;
	bool refund = false;
	if (!strcmp(type, "checkout.session.completed")) {
		const char *ps = json_string_value(json_object_get(obj, "payment_status"));
		if (!ps || strcmp(ps, "paid")) { /* delayed methods settle later, as payment_intent.succeeded */
			pay_count(S, PAY_IGNORED);
			api_reply(rq, 200, json_pack("{s:b}", "received", 1));
			goto out;
		}
		pn.txn = json_string_value(json_object_get(obj, "payment_intent"));
		amount = json_object_get(obj, "amount_total");
		pn.out_trade_no = json_string_value(json_object_get(meta, "out_trade_no"));
		if (!pn.out_trade_no)
			pn.out_trade_no = json_string_value(json_object_get(obj, "client_reference_id"));
	} else if (!strcmp(type, "payment_intent.succeeded")) {
		pn.txn = json_string_value(json_object_get(obj, "id"));
		amount = json_object_get(obj, "amount_received");
		pn.out_trade_no = json_string_value(json_object_get(meta, "out_trade_no"));
	} else if (!strcmp(type, "charge.refunded")) {
		refund = pn.refund_cumulative = true;
		pn.txn = json_string_value(json_object_get(obj, "payment_intent"));
		amount = json_object_get(obj, "amount_refunded");
	} else {
		pay_count(S, PAY_IGNORED);
		api_reply(rq, 200, json_pack("{s:b}", "received", 1));
		goto out;
	}
	if (!refund && !pn.out_trade_no) {
		const char *t = json_string_value(json_object_get(meta, "tenant_id"));
		pn.tenant_hint = t ? api_id_parse(ID_TENANT, t) : 0;
	}
	int digits;
	if (!pn.txn || !*pn.txn || !json_is_integer(amount) || json_integer_value(amount) < 0 ||
	    json_integer_value(amount) > MAX_AMOUNT || !api_valid_currency(pn.currency, &digits)) {
		pay_refuse(rq, S, E_INVALID_FIELD, "%s needs a payment intent, an amount and a currency", type);
		goto out;
	}
	pn.amount = json_integer_value(amount);
	enum pay_outcome o;
	if (pay_settle(rq, &pn, ev, refund, &o) == 0)
		api_reply(rq, 200, json_pack("{s:b, s:s}", "received", 1, "outcome",
					     o == PAY_CREDITED ? "credited"
					     : o == PAY_REPLAY ? "replay"
					     : o == PAY_REFUND ? "refund"
							       : "conflict"));
out:
	json_decref(ev);
}

void api_hook_stripe(struct req *rq)
{
	if (pay_configured(rq, PROV_STRIPE))
		stripe(rq);
}

