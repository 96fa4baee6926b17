/* payment.c: crediting payments, debiting refunds and resolving conflicts (payment.h). */
#include "ops/payment.h"
#include "core/buf.h"
#include "core/log.h"
#include "ops/ledger.h"
#include "ops/receipt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pay_provider_names[] = {"wechat", "alipay", "stripe", NULL};

int pay_provider_parse(const char *name)
{
	for (int i = 0; name && pay_provider_names[i]; i++)
		if (!strcmp(pay_provider_names[i], name))
			return i;
	return -1;
}

/* A ledger ref: a JSON object of string fields (value NULL: left out), then "payment_id". */
static char *ref_text(const char *const *kv, int64_t payment_id)
{
	struct srv_buf b = {0};
	srv_buf_putc(&b, '{');
	for (int i = 0; kv[i]; i += 2) {
		if (!kv[i + 1])
			continue;
		srv_buf_json_str(&b, kv[i]);
		srv_buf_putc(&b, ':');
		srv_buf_json_str(&b, kv[i + 1]);
		srv_buf_putc(&b, ',');
	}
	PUT_LIT(&b, "\"payment_id\":\"pay_");
	srv_buf_i64(&b, payment_id);
	PUT_LIT(&b, "\"}");
	return b.p;
}

/* Post amount (signed) of kind for tenant: *ledger_id gets the entry, 0 when the tenant has
 * no account or (a topup) its account is closed (*closed then says so; may be NULL); *e the
 * entry when posted. */
static enum db_status post(PGconn *c, int64_t tenant, const char *kind, int64_t amount, const char *ref,
			   const char *request_id, int64_t now_us, int64_t *ledger_id, struct bill_entry *e,
			   bool *closed)
{
	enum bill_post_result res;
	enum db_status st = bill_post(c, tenant, kind, amount, ref, request_id, now_us, e, &res);
	*ledger_id = st == DB_OK && res == POST_OK ? e->id : 0;
	if (closed)
		*closed = st == DB_OK && res == POST_CLOSED;
	return st;
}

/* The receipt of an entry just posted, in the same transaction. */
static enum db_status receipt(PGconn *c, enum receipt_series series, int64_t tenant, const struct bill_entry *e,
			      const char *channel, const char *txn, const char *reference, int64_t payment_id,
			      int64_t now_us)
{
	struct receipt_req rq = {series, tenant, e, channel, txn, reference, payment_id, 0, now_us};
	struct receipt_issued out;
	return op_receipt_issue(c, &rq, &out);
}

static enum db_status conflict(PGconn *c, struct pay_result *out, const char *reason, int64_t expected,
			       const char *expected_cur, int64_t now_us)
{
	out->out = PAY_CONFLICT;
	out->conflict = reason;
	return store_conflict_insert(c, out->payment_id, reason, expected, expected_cur, now_us);
}

enum db_status op_payment_credit(PGconn *c, const struct pay_note *n, struct pay_result *out, enum pay_err *err)
{
	memset(out, 0, sizeof *out);
	*err = PAY_OK;
	struct order o = {0};
	int64_t tenant = 0, want = 0;
	char want_cur[4] = "";
	enum db_status st;
	if (n->out_trade_no && (st = store_order_lock(c, n->out_trade_no, &o)) != DB_OK)
		return st;
	if (o.id) {
		tenant = o.tenant_id;
		want = o.amount_minor;
		snprintf(want_cur, sizeof want_cur, "%s", o.currency);
	} else if (n->tenant_hint) {
		bool found;
		if ((st = store_account_currency(c, n->tenant_hint, want_cur, &found)) != DB_OK)
			return st;
		if (found) {
			tenant = n->tenant_hint;
			want = n->amount; /* no order: whatever was paid */
		}
	}
	const char *reason = !tenant                         ? "unknown_order"
			     : strcmp(want_cur, n->currency) ? "currency_mismatch"
			     : want != n->amount             ? "amount_mismatch"
			     : !strcmp(o.status, "paid")     ? "order_already_paid"
							     : NULL;
	struct payment_new p = {pay_provider_names[n->prov], n->txn, n->out_trade_no, o.id, tenant, n->amount,
				n->currency, reason ? "conflict" : "credited", n->event_json, n->request_id};
	if ((st = store_payment_insert(c, &p, n->now_us, &out->payment_id)) != DB_OK)
		return st;
	if (!out->payment_id) { /* reported before: that answer stands */
		out->out = PAY_REPLAY;
		return DB_OK;
	}
	if (reason)
		return conflict(c, out, reason, o.id ? want : 0, want_cur, n->now_us);
	const char *kv[] = {"channel", pay_provider_names[n->prov], "provider_txn_id", n->txn, "out_trade_no",
			    n->out_trade_no ? n->out_trade_no : "", NULL};
	char *ref = ref_text(kv, out->payment_id);
	int64_t ledger;
	struct bill_entry e;
	bool closed;
	st = post(c, tenant, "topup", n->amount, ref, n->request_id, n->now_us, &ledger, &e, &closed);
	free(ref);
	if (st != DB_OK)
		return st;
	if (!ledger) /* a tenant that moved out takes no new money: kept for finance to refund */
		return conflict(c, out, closed ? "account_closed" : "no_account", want, want_cur, n->now_us);
	if ((st = receipt(c, RCPT_TOPUP, tenant, &e, pay_provider_names[n->prov], n->txn, NULL, out->payment_id,
			  n->now_us)) != DB_OK)
		return st;
	if ((st = store_payment_set(c, out->payment_id, "credited", ledger, 0)) != DB_OK)
		return st;
	if (o.id && (st = store_order_paid(c, o.id, out->payment_id, n->now_us)) != DB_OK)
		return st;
	out->out = PAY_CREDITED;
	return DB_OK;
}

enum db_status op_payment_refund_record(PGconn *c, const struct refund_record *r, int64_t *refund_id,
				       int64_t *ledger_id, enum pay_err *err)
{
	*refund_id = *ledger_id = 0;
	*err = PAY_OK;
	enum db_status st = store_refund_insert(c, r->payment_id, r->refund_ref, r->amount, r->event_json, r->now_us,
						refund_id);
	if (st != DB_OK || !*refund_id)
		return st;
	if (r->credited && r->amount > 0) {
		/* The money leaves the account as it came: a debit through the same posting path,
		 * which runs the state machine (a refund may warn, start grace or cut). */
		char rid[32] = "";
		if (r->finance_refund_id)
			snprintf(rid, sizeof rid, "rfd_%lld", (long long)r->finance_refund_id);
		const char *kv[] = {"channel", r->provider, "provider_txn_id", r->txn, "refund_ref", r->refund_ref,
				    "out_trade_no", r->out_trade_no, "refund_id", *rid ? rid : NULL, NULL};
		char *ref = ref_text(kv, r->payment_id);
		struct bill_entry e;
		st = post(c, r->tenant_id, "refund", -r->amount, ref, r->request_id, r->now_us, ledger_id, &e, NULL);
		free(ref);
		if (st != DB_OK)
			return st;
		if (!*ledger_id) {
			*err = PAY_POST_FAILED;
			return DB_OK;
		}
		/* A credit note citing the payment's receipt: the original is never edited. */
		if ((st = receipt(c, RCPT_REFUND, r->tenant_id, &e, r->provider, r->txn, r->refund_ref, r->payment_id,
				  r->now_us)) != DB_OK)
			return st;
	}
	return store_refund_done(c, r->payment_id, *refund_id, *ledger_id, r->amount);
}

/* Record one refund of the locked payment p under ref: *recorded true when it was new. */
static enum db_status record_one(PGconn *c, const struct pay_note *n, const struct payment_locked *p, const char *ref,
				 int64_t amount, int64_t finance_id, bool *recorded, enum pay_err *err)
{
	struct refund_record rec = {pay_provider_names[n->prov], n->txn, p->out_trade_no, ref, n->event_json,
				    n->request_id, p->id, p->tenant_id, amount, !strcmp(p->status, "credited"),
				    finance_id, n->now_us};
	int64_t rid, ledger;
	enum db_status st = op_payment_refund_record(c, &rec, &rid, &ledger, err);
	*recorded = st == DB_OK && !*err && rid;
	if (*recorded && finance_id) /* finance's refund, confirmed by the provider's report first */
		st = store_refund_set(c, finance_id, "succeeded", ref, NULL, NULL, ledger, rid, 0, n->now_us);
	return st;
}

/* Whether pending refund r is the one a report names (the provider's refund id, or our
 * out_refund_no given back). */
static bool names(const struct refund *r, const char *refund_ref, const char *out_refund_no)
{
	char ours[32];
	snprintf(ours, sizeof ours, "rf%lld", (long long)r->id);
	return (*r->provider_ref && refund_ref && !strcmp(r->provider_ref, refund_ref)) ||
	       (out_refund_no && !strcmp(ours, out_refund_no));
}

enum db_status op_payment_refund(PGconn *c, const struct pay_note *n, struct pay_result *out, enum pay_err *err)
{
	memset(out, 0, sizeof *out);
	*err = PAY_OK;
	struct payment_locked p;
	enum db_status st = store_payment_lock(c, pay_provider_names[n->prov], n->txn, &p);
	if (st != DB_OK)
		return st;
	if (!p.id) {
		/* The refund overtook its payment, or names one we never saw: let the provider
		 * deliver it again later. */
		*err = PAY_UNKNOWN_PAYMENT;
		return DB_OK;
	}
	out->payment_id = p.id;
	int64_t left = p.amount_minor - p.refunded_minor;
	/* One refund (WeChat's, by its refund id), or the total refunded so far (Stripe's
	 * charge.refunded, Alipay's refund_fee): what the total adds over what is recorded. */
	int64_t add = n->refund_cumulative ? n->amount - p.refunded_minor : n->amount;
	if (add <= 0) { /* an older or repeated report of what is recorded */
		out->out = PAY_REPLAY;
		return DB_OK;
	}
	if (add > left) {
		srv_log(LOG_ERROR, "payments: %s refund report of %lld on payment %s exceeds what is left (%lld)",
			pay_provider_names[n->prov], (long long)n->amount, n->txn, (long long)left);
		out->left = left;
		*err = PAY_REFUND_TOO_LARGE;
		return DB_OK;
	}
	struct refund pend[16];
	int np = 0;
	if ((st = store_refunds_pending_of(c, p.id, pend, 16, &np)) != DB_OK)
		return st;
	bool any = false, rec;
	if (!n->refund_cumulative) {
		int64_t mine = 0;
		for (int i = 0; i < np && !mine; i++)
			if (names(&pend[i], n->refund_ref, n->out_refund_no))
				mine = pend[i].id;
		if ((st = record_one(c, n, &p, n->refund_ref, add, mine, &rec, err)) != DB_OK || *err)
			return st;
		out->out = rec ? PAY_REFUND : PAY_REPLAY;
		return DB_OK;
	}
	/* A total covers whole refunds: the pending ones finance asked for that fit in what it
	 * adds (the one it names first, then the oldest), each recorded as itself ("rf<id>", as
	 * its own confirmation records it) so that no confirmation can post it again; what is
	 * left over is a refund made outside wattle (the provider's dashboard). */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < np && add > 0; i++) {
			bool named = names(&pend[i], n->refund_ref, n->out_refund_no);
			if ((pass == 0) != named || !pend[i].id || pend[i].amount_minor > add)
				continue;
			char ref[32];
			snprintf(ref, sizeof ref, "rf%lld", (long long)pend[i].id);
			if ((st = record_one(c, n, &p, ref, pend[i].amount_minor, pend[i].id, &rec, err)) != DB_OK || *err)
				return st;
			if (rec) {
				add -= pend[i].amount_minor;
				any = true;
			}
			pend[i].id = 0;
		}
	if (add > 0) {
		char ref[64];
		snprintf(ref, sizeof ref, "total:%lld", (long long)n->amount);
		if ((st = record_one(c, n, &p, ref, add, 0, &rec, err)) != DB_OK || *err)
			return st;
		any |= rec;
	}
	out->out = any ? PAY_REFUND : PAY_REPLAY;
	return DB_OK;
}

enum db_status op_conflict_resolve(PGconn *c, const struct op_resolve_req *rq, struct conflict *x,
				   enum resolve_err *err)
{
	*err = RES_OK;
	enum db_status st = store_conflict_lock(c, rq->conflict_id, x);
	if (st != DB_OK)
		return st;
	if (!x->id) {
		*err = RES_NO_CONFLICT;
		return DB_OK;
	}
	if (strcmp(x->state, "open")) {
		*err = RES_NOT_OPEN;
		return DB_OK;
	}
	int64_t ledger = 0, tenant = rq->tenant_id ? rq->tenant_id : x->pay.tenant_id;
	if (rq->credit) {
		char cur[4];
		bool found;
		if (!tenant) {
			*err = RES_NO_TENANT;
			return DB_OK;
		}
		if ((st = store_account_currency(c, tenant, cur, &found)) != DB_OK)
			return st;
		if (!found) {
			*err = RES_NO_ACCOUNT;
			return DB_OK;
		}
		if (strcmp(cur, x->pay.currency)) {
			*err = RES_CURRENCY;
			return DB_OK;
		}
		int64_t left = x->pay.amount_minor - x->pay.refunded_minor;
		if (left <= 0) {
			*err = RES_REFUNDED;
			return DB_OK;
		}
		char cid[32];
		snprintf(cid, sizeof cid, "pcf_%lld", (long long)x->id);
		const char *kv[] = {"channel", x->pay.provider, "provider_txn_id", x->pay.txn, "conflict_id", cid,
				    "reason", rq->reason, NULL};
		char *ref = ref_text(kv, x->pay.id);
		struct bill_entry e;
		bool closed;
		st = post(c, tenant, "topup", left, ref, rq->request_id, rq->now_us, &ledger, &e, &closed);
		free(ref);
		if (st != DB_OK)
			return st;
		if (!ledger) { /* the account was checked above, under the same transaction */
			*err = closed ? RES_CLOSED : RES_NO_ACCOUNT;
			return DB_OK;
		}
		if ((st = receipt(c, RCPT_TOPUP, tenant, &e, x->pay.provider, x->pay.txn, NULL, x->pay.id, rq->now_us)) !=
		    DB_OK)
			return st;
		if ((st = store_payment_set(c, x->pay.id, "credited", ledger, tenant)) != DB_OK)
			return st;
		if (x->pay.order_id && (st = store_order_paid(c, x->pay.order_id, x->pay.id, rq->now_us)) != DB_OK)
			return st;
	} else if ((st = store_payment_set(c, x->pay.id, "rejected", 0, 0)) != DB_OK) {
		return st;
	}
	if ((st = store_conflict_set(c, x->id, rq->credit ? "credited" : "rejected", rq->now_us, rq->key_id, rq->reason,
				     ledger)) != DB_OK)
		return st;
	return store_conflict_lock(c, rq->conflict_id, x);
}
