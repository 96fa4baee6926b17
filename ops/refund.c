/* refund.c: asking for a refund and settling it (refund.h). */
#include "ops/refund.h"
#include "core/log.h"
#include "ops/payment.h"

#include <stdio.h>
#include <string.h>

enum db_status op_refund_request(PGconn *c, const struct op_refund_req *rq, struct refund *out, int64_t *left,
				 enum refund_err *err)
{
	memset(out, 0, sizeof *out);
	*left = 0;
	*err = RF_OK;
	struct refund_payment p;
	enum db_status st = store_refund_payment_lock(c, rq->payment_id, &p);
	if (st != DB_OK)
		return st;
	if (!p.id) {
		*err = RF_NO_PAYMENT;
		return DB_OK;
	}
	if (strcmp(p.status, "credited") || !p.tenant_id) {
		*err = RF_NOT_CREDITED;
		return DB_OK;
	}
	/* What is left of the payment counts the refunds still pending as gone. */
	*left = p.amount_minor - p.refunded_minor - p.held_minor;
	if (rq->amount_minor > *left) {
		*err = RF_TOO_LARGE;
		return DB_OK;
	}
	if (rq->check_balance) {
		int64_t balance, held;
		bool found;
		if ((st = store_refund_balance(c, p.tenant_id, &balance, &held, &found)) != DB_OK)
			return st;
		*left = found ? balance - held : 0;
		if (*left < 0)
			*left = 0;
		if (rq->amount_minor > *left) {
			*err = RF_BALANCE;
			return DB_OK;
		}
	}
	out->payment_id = p.id;
	out->tenant_id = p.tenant_id;
	out->amount_minor = rq->amount_minor;
	snprintf(out->currency, sizeof out->currency, "%s", p.currency);
	snprintf(out->reason, sizeof out->reason, "%s", rq->reason ? rq->reason : "");
	snprintf(out->origin, sizeof out->origin, "%s", rq->origin ? rq->origin : "finance");
	return store_refund_new(c, out, rq->key_id, rq->request_id, rq->send_at_us, rq->now_us);
}

enum db_status op_refund_settle(PGconn *c, const struct op_refund_outcome *o, struct refund *out)
{
	/* The payment first, as a notification locks it: two confirmations of one refund queue
	 * there, and the second finds it settled. */
	enum db_status st = store_refund_get(c, o->refund_id, false, out);
	if (st != DB_OK || !out->id)
		return st;
	struct refund_payment p;
	if ((st = store_refund_payment_lock(c, out->payment_id, &p)) != DB_OK ||
	    (st = store_refund_get(c, o->refund_id, true, out)) != DB_OK)
		return st;
	/* Settled before: that answer stands, but for money that left after all (a refund
	 * recorded failed that the provider now says it made). */
	bool late = !strcmp(out->state, "failed") && o->what == RO_SUCCEEDED;
	if (strcmp(out->state, "pending") && !late)
		return DB_OK;
	if (late)
		srv_log(LOG_ERROR, "refunds: rfd_%lld was recorded failed, but %s now says it was made: posting it",
			(long long)out->id, p.provider);
	int64_t rid = 0, ledger = 0;
	switch (o->what) {
	case RO_SUCCEEDED: {
		char ours[32];
		snprintf(ours, sizeof ours, "rf%lld", (long long)out->id);
		const char *ref = o->provider_ref && *o->provider_ref ? o->provider_ref : ours;
		if (out->amount_minor > p.amount_minor - p.refunded_minor) {
			/* A report of the total refunded posted it already (it could not tell which
			 * refund it covered): the money is accounted for; nothing is posted twice. */
			srv_log(LOG_WARN, "refunds: rfd_%lld confirmed by %s, but only %lld of the payment is left"
					  " unrefunded: it was posted with an earlier report; nothing more is debited",
				(long long)out->id, p.provider, (long long)(p.amount_minor - p.refunded_minor));
			st = store_refund_set(c, out->id, "succeeded", ref, NULL, NULL, 0, 0, 0, o->now_us);
			break;
		}
		struct refund_record rec = {p.provider, p.txn, p.out_trade_no, ref, o->event_json ? o->event_json : "{}",
					    o->request_id, p.id, p.tenant_id, out->amount_minor,
					    !strcmp(p.status, "credited"), out->id, o->now_us};
		enum pay_err err;
		if ((st = op_payment_refund_record(c, &rec, &rid, &ledger, &err)) != DB_OK)
			return st;
		if (err) {
			srv_log(LOG_ERROR, "refunds: rfd_%lld confirmed by %s but its debit could not be posted",
				(long long)out->id, p.provider);
			return DB_HARD;
		}
		st = store_refund_set(c, out->id, "succeeded", ref, NULL, NULL, ledger, rid, 0, o->now_us);
		break;
	}
	case RO_PENDING:
	case RO_RETRY:
		st = store_refund_set(c, out->id, "pending", o->provider_ref, o->code, o->message, 0, 0, o->next_us,
				      o->now_us);
		break;
	case RO_FAILED:
		st = store_refund_set(c, out->id, "failed", o->provider_ref, o->code, o->message, 0, 0, 0, o->now_us);
		break;
	}
	if (st != DB_OK)
		return st;
	return store_refund_get(c, o->refund_id, false, out);
}
