/* refunds.c: POST /v1/refunds, GET /v1/refunds and GET /v1/refunds/{id}: refunds finance
 * asks a provider for (ops/refund.h), and the refund worker's tick, which sends the ones
 * due (a move-out's, or a request's whose own call had no answer) and asks about pending
 * ones. A request answers 202 with the refund as it stands after its own call to the
 * provider: succeeded when the provider refunded at once, else pending (the worker, a
 * notification or a query settles it) or failed with the provider's code. */
#include "api/payments.h"
#include "api/provider.h"
#include "core/clock.h"
#include "core/log.h"
#include "ops/refund.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_REFUND "rfd"
#define CLAIM 20
/* Longer than a claimed batch can take (each refund up to two calls: Stripe looks a
 * refund up before making it again), so that no other process sends one this one sends. */
#define LEASE_US ((2 * CLAIM + 1) * (int64_t)pay_cfg.timeout_ms * 1000)

static json_t *refund_json(const struct refund *r)
{
	json_t *j = json_pack("{s:o, s:o, s:o, s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
			      api_id_json(ID_REFUND, r->id), "payment_id", api_id_json(ID_PAYMENT, r->payment_id),
			      "tenant_id", api_id_json(ID_TENANT, r->tenant_id), "provider", r->provider,
			      "amount_minor", (json_int_t)r->amount_minor, "currency", r->currency, "reason", r->reason,
			      "state", r->state, "origin", r->origin, "provider_refund_id",
			      *r->provider_ref ? json_string(r->provider_ref) : json_null(), "ledger_entry_id",
			      r->ledger_entry_id ? api_id_json(ID_LEDGER, r->ledger_entry_id) : json_null(),
			      "created_at", api_time_json(r->created_us), "updated_at", api_time_json(r->updated_us));
	if (*r->provider_code)
		json_object_set_new(j, "provider_error",
				    json_pack("{s:s, s:s}", "code", r->provider_code, "message", r->provider_message));
	return j;
}

/* ---- sending ---- */

struct settle_tx {
	struct op_refund_outcome o;
	struct refund r;
};

static enum db_status settle_tx(PGconn *c, void *arg)
{
	struct settle_tx *t = arg;
	t->o.now_us = srv_clock_now_us();
	return op_refund_settle(c, &t->o, &t->r);
}

/* Send r to its provider (or, known there, ask how it stands) and record the answer; *r
 * becomes the refund as it stands. 0, or -1 when recording failed (r unchanged). */
static int send_refund(struct refund *r, int attempts, const char *request_id)
{
	enum pay_provider p = (enum pay_provider)pay_provider_parse(r->provider);
	char ours[32];
	snprintf(ours, sizeof ours, "rf%lld", (long long)r->id);
	struct prov_refund_req pr = {r->txn, r->out_trade_no, ours, r->amount_minor, r->payment_amount_minor,
				     r->currency, r->reason, *r->provider_ref ? r->provider_ref : NULL};
	struct prov_refund out;
	struct prov_status ps;
	/* Asking again with the same out_refund_no refunds once at every provider, so a refund
	 * whose first call had no answer is simply sent again until one comes. */
	bool query = *r->provider_ref != 0 && attempts % 4 != 3;
	/* every fourth answer of a refund still pending, it is asked for again instead (the same
	 * out_refund_no: once at every provider): Alipay says nothing of a refund it never
	 * received, however often it is asked about */
	int rc = query ? prov_refund_query(p, &pr, &out, &ps) : prov_refund(p, &pr, &out, &ps);
	struct settle_tx t = {{r->id, RO_RETRY, NULL, NULL, NULL, NULL, 0, request_id, 0}, {0}};
	char *ev = out.raw ? json_dumps(out.raw, JSON_COMPACT) : NULL;
	t.o.event_json = ev;
	int64_t now = srv_clock_now_us();
	const char *counted;
	if (rc == 0) {
		t.o.provider_ref = *out.refund_ref ? out.refund_ref : NULL;
		t.o.what = out.state == REFUND_SUCCEEDED ? RO_SUCCEEDED : out.state == REFUND_PENDING ? RO_PENDING : RO_FAILED;
		if (t.o.what == RO_FAILED) {
			t.o.code = "refund_failed";
			t.o.message = "the provider reports the refund failed or closed";
		}
		counted = t.o.what == RO_SUCCEEDED ? "succeeded" : t.o.what == RO_PENDING ? "pending" : "failed";
	} else if (ps.result == PR_REFUSED) {
		t.o.what = RO_FAILED;
		t.o.code = ps.code;
		t.o.message = ps.message;
		counted = "failed";
	} else {
		counted = "error";
	}
	t.o.next_us = now + pay_backoff_us(attempts);
	api_refund_count(p, counted);
	srv_log(t.o.what == RO_FAILED || rc ? LOG_WARN : LOG_INFO, "refunds: rfd_%lld %s %s %lld %s of %s: %s%s%s%s%s",
		(long long)r->id, query ? "asked" : "sent to", r->provider, (long long)r->amount_minor, r->currency, r->txn,
		counted, rc ? " (" : "", rc ? ps.code : "", rc ? ": " : "", rc ? ps.message : "");
	enum db_status st = db_run_tx(settle_tx, &t);
	free(ev);
	json_decref(out.raw);
	if (st != DB_OK) {
		srv_log(LOG_ERROR, "refunds: rfd_%lld: recording the provider's answer failed (%d); it is asked again",
			(long long)r->id, (int)st);
		return -1;
	}
	*r = t.r;
	return 0;
}

/* ---- the API ---- */

/* The request's own call to the provider (a provider-call thread); arg a new refund. */
static void send_and_reply(struct req *rq, void *arg)
{
	struct refund *r = arg;
	if (send_refund(r, 0, rq->request_id) == 0)
		api_reply(rq, 202, refund_json(r));
	free(r);
}

struct create_tx {
	struct req *rq;
	bool fresh;
	struct refund r;
};

static enum db_status create_tx(PGconn *c, void *arg)
{
	struct create_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	t->fresh = true;
	int64_t now = srv_clock_now_us();
	struct op_refund_req op = {api_body_id(rq, ID_PAYMENT, "payment_id"), api_body_int(rq, "amount_minor"),
				   api_body_str(rq, "reason"), "finance", true, rq->who.key_id, rq->request_id,
				   now + 60 * INT64_C(1000000), now};
	int64_t left;
	enum refund_err err;
	if ((st = op_refund_request(c, &op, &t->r, &left, &err)) != DB_OK)
		return st;
	switch (err) {
	case RF_OK:
		break;
	case RF_NO_PAYMENT:
		api_error(rq, E_NOT_FOUND, NULL, "no payment %s", api_body_str(rq, "payment_id"));
		return DB_ABORT;
	case RF_NOT_CREDITED:
		api_error(rq, E_REFUSED, NULL, "payment %s was never credited: there is nothing to take back",
			  api_body_str(rq, "payment_id"));
		return DB_ABORT;
	case RF_TOO_LARGE:
	case RF_BALANCE:
		api_error(rq, E_REFUSED, json_pack("{s:s, s:I}", "reason", err == RF_TOO_LARGE ? "payment" : "balance",
						   "available_minor", (json_int_t)left),
			  err == RF_TOO_LARGE ? "the refund is larger than what is left of the payment (%lld)"
					      : "the refund is larger than the balance allows (%lld)",
			  (long long)left);
		return DB_ABORT;
	}
	enum pay_provider p = (enum pay_provider)pay_provider_parse(t->r.provider);
	if (!prov_enabled(p)) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s's API credentials are not configured: it cannot be asked for a refund",
			  t->r.provider);
		return DB_ABORT;
	}
	api_reply(rq, 202, refund_json(&t->r));
	if ((st = api_audit(c, rq, "refund.create",
			    json_pack("{s:o, s:o, s:I, s:s}", "id", api_id_json(ID_REFUND, t->r.id), "payment_id",
				      api_id_json(ID_PAYMENT, t->r.payment_id), "amount_minor",
				      (json_int_t)t->r.amount_minor, "reason", t->r.reason))) != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

void api_refunds_create(struct req *rq)
{
	static const struct field spec[] = {
		{"payment_id", FK_ID, F_REQ, 0, 0, 0, ID_PAYMENT},
		{"amount_minor", FK_INT, F_REQ, 1, MAX_AMOUNT, 0, 0},
		{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	if (!api_header(rq, "Idempotency-Key")) {
		api_error(rq, E_MALFORMED_REQUEST, json_pack("{s:s}", "header", "Idempotency-Key"),
			  "a refund needs an Idempotency-Key: asking twice must not refund twice");
		return;
	}
	struct create_tx t = {rq, false, {0}};
	if (api_tx_failed(rq, db_run_tx(create_tx, &t)))
		return;
	if (!t.fresh) { /* a replay: the refund as it stands now */
		int64_t id = rq->status == 202 ? api_id_parse(ID_REFUND, json_string_value(json_object_get(rq->reply, "id"))) : 0;
		PGconn *c = id ? api_conn(rq) : NULL;
		struct refund r;
		if (c && !api_read_failed(rq, store_refund_get(c, id, false, &r)) && r.id)
			api_reply(rq, 202, refund_json(&r));
		return;
	}
	struct refund *job = malloc(sizeof *job);
	if (!job)
		abort();
	*job = t.r;
	prov_offload(rq, send_and_reply, job);
}

void api_refunds_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_REFUND, "refund");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	struct refund r;
	if (api_read_failed(rq, store_refund_get(c, id, false, &r)))
		return;
	if (!r.id) {
		api_error(rq, E_NOT_FOUND, NULL, "no refund %s", rq->args[0]);
		return;
	}
	api_reply(rq, 200, refund_json(&r));
}

void api_refunds_list(struct req *rq)
{
	static const char *const states[] = {"pending", "succeeded", "failed", NULL};
	const char *state, *tenant = api_query(rq, "tenant_id");
	int64_t limit, after, tenant_id = 0, site;
	if (api_query_enum(rq, "state", states, &state) || api_query_id(rq, "site_id", ID_SITE, &site) ||
	    api_page(rq, ID_REFUND, &limit, &after))
		return;
	if (tenant && !(tenant_id = api_id_parse(ID_TENANT, tenant))) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "tenant_id"), "tenant_id must be ten_N");
		return;
	}
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct refund *rs;
	int n;
	if (api_read_failed(rq, store_refunds_list(c, tenant_id, site, state, after, limit + 1, &rs, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, refund_json(&rs[i]));
	free(rs);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* ---- the worker ---- */

struct claim_tx {
	int64_t now;
	struct refund r[CLAIM];
	int n;
};

static enum db_status claim_tx(PGconn *c, void *arg)
{
	struct claim_tx *t = arg;
	return store_refunds_claim(c, t->now, LEASE_US, t->r, CLAIM, &t->n);
}

int api_refunds_tick(void)
{
	struct claim_tx t = {srv_clock_now_us(), {{0}}, 0};
	enum db_status st = db_run_tx(claim_tx, &t);
	if (st != DB_OK) {
		if (st != DB_GONE)
			srv_log(LOG_ERROR, "refunds: claiming refunds due failed (%d); retrying", (int)st);
		return 0;
	}
	for (int i = 0; i < t.n; i++) {
		char rid[48];
		snprintf(rid, sizeof rid, "worker-rfd_%lld", (long long)t.r[i].id);
		if (!prov_enabled((enum pay_provider)pay_provider_parse(t.r[i].provider))) {
			srv_log(LOG_ERROR, "refunds: rfd_%lld is due but %s's API credentials are not configured;"
					   " it waits", (long long)t.r[i].id, t.r[i].provider);
			continue;
		}
		send_refund(&t.r[i], t.r[i].attempts, rid);
	}
	return t.n == CLAIM;
}
