/* conflicts.c: GET /v1/payment-conflicts and POST /v1/payment-conflicts/{id}/resolve:
 * genuine payments that matched no order (or not its amount, currency or state), which
 * finance credits (what was paid less refunds) or rejects, with a reason. */
#include "api/payments.h"
#include "core/clock.h"
#include "store/payments.h"

#include <stdlib.h>
#include <string.h>

static json_t *opt_id(const char *prefix, int64_t id) { return id ? api_id_json(prefix, id) : json_null(); }

static json_t *conflict_json(const struct conflict *x)
{
	json_t *pay = json_pack("{s:o, s:s, s:s, s:o, s:I, s:s, s:o, s:I, s:o, s:o}", "id",
				api_id_json(ID_PAYMENT, x->pay.id), "provider", x->pay.provider, "provider_txn_id",
				x->pay.txn, "out_trade_no",
				x->pay.has_out_trade_no ? json_string(x->pay.out_trade_no) : json_null(), "amount_minor",
				(json_int_t)x->pay.amount_minor, "currency", x->pay.currency, "tenant_id",
				opt_id(ID_TENANT, x->pay.tenant_id), "refunded_minor", (json_int_t)x->pay.refunded_minor,
				"received_at", api_time_json(x->pay.received_us), "order_id",
				opt_id(ID_ORDER, x->pay.order_id));
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o}", "id", api_id_json(ID_CONFLICT, x->id),
			 "reason", x->reason, "expected_amount_minor",
			 x->has_expected ? json_integer(x->expected_minor) : json_null(), "expected_currency",
			 x->expected_currency[0] ? json_string(x->expected_currency) : json_null(), "state", x->state,
			 "created_at", api_time_json(x->created_us), "resolved_at",
			 x->resolved_us ? api_time_json(x->resolved_us) : json_null(), "resolution_reason",
			 x->has_resolution ? json_string(x->resolution_reason) : json_null(), "ledger_entry_id",
			 opt_id(ID_LEDGER, x->ledger_entry_id), "payment", pay);
}

void api_conflicts_list(struct req *rq)
{
	static const char *const states[] = {"open", "credited", "rejected", NULL};
	const char *state;
	int64_t limit, after, site;
	if (api_query_enum(rq, "state", states, &state) || api_query_id(rq, "site_id", ID_SITE, &site) ||
	    api_page(rq, ID_CONFLICT, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct conflict *xs;
	int n;
	if (api_read_failed(rq, store_conflicts_list(c, after, limit + 1, state, site, &xs, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, conflict_json(&xs[i]));
	free(xs);
	api_reply(rq, 200, api_page_reply(items, limit));
}

struct resolve_tx {
	struct req *rq;
	struct op_resolve_req op;
};

static enum db_status resolve_tx(PGconn *c, void *arg)
{
	struct resolve_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	t->op.now_us = srv_clock_now_us();
	struct conflict x;
	enum resolve_err err;
	if ((st = op_conflict_resolve(c, &t->op, &x, &err)) != DB_OK)
		return st;
	switch (err) {
	case RES_OK:
		break;
	case RES_NO_CONFLICT:
		api_error(rq, E_NOT_FOUND, NULL, "no payment conflict %s", rq->args[0]);
		return DB_ABORT;
	case RES_NOT_OPEN:
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "state", x.state), "the conflict is already %s", x.state);
		return DB_ABORT;
	case RES_NO_TENANT:
		api_field_error(rq, "tenant_id", "the payment names no tenant: say whose it is");
		return DB_ABORT;
	case RES_NO_ACCOUNT:
		api_field_error(rq, "tenant_id", "tenant ten_%lld has no account",
				(long long)(t->op.tenant_id ? t->op.tenant_id : x.pay.tenant_id));
		return DB_ABORT;
	case RES_CURRENCY:
		api_error(rq, E_CURRENCY_MISMATCH, NULL,
			  "the payment is in %s, not the account's currency; reject it and adjust by hand", x.pay.currency);
		return DB_ABORT;
	case RES_REFUNDED:
		api_error(rq, E_CONFLICT, NULL, "the payment has been refunded in full: nothing to credit");
		return DB_ABORT;
	case RES_CLOSED:
		api_error(rq, E_ACCOUNT_CLOSED, NULL, "the tenant moved out: refund the payment or reject it");
		return DB_ABORT;
	}
	json_t *out = conflict_json(&x);
	api_reply(rq, 200, out);
	st = api_audit(c, rq, t->op.credit ? "payment_conflict.credit" : "payment_conflict.reject",
		       json_pack("{s:o, s:o, s:s}", "id", api_id_json(ID_CONFLICT, x.id), "payment_id",
				 api_id_json(ID_PAYMENT, x.pay.id), "reason", t->op.reason));
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

void api_conflict_resolve(struct req *rq)
{
	static const char *const actions[] = {"credit", "reject", NULL};
	static const struct field spec[] = {
		{"action", FK_ENUM, F_REQ, 0, 0, actions, 0},
		{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0},
		{"tenant_id", FK_ID, 0, 0, 0, 0, ID_TENANT},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct resolve_tx t = {rq, {api_arg_id(rq, 0, ID_CONFLICT, "payment conflict"), false, 0, NULL,
				    rq->who.key_id, rq->request_id, 0}};
	if (!t.op.conflict_id)
		return;
	t.op.credit = !strcmp(api_body_str(rq, "action"), "credit");
	t.op.tenant_id = api_body_has(rq, "tenant_id") ? api_body_id(rq, ID_TENANT, "tenant_id") : 0;
	t.op.reason = api_body_str(rq, "reason");
	api_tx_failed(rq, db_run_tx(resolve_tx, &t));
}
