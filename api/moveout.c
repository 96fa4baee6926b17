/* moveout.c: POST /v1/tenants/{id}/move-out (finance) moves a tenant out, once, in one
 * transaction (ops/move_out.h); GET /v1/tenants/{id}/move-out shows it, its refunds as they
 * stand. */
#include "api/api.h"
#include "api/provider.h"
#include "core/clock.h"
#include "core/valid.h"
#include "ops/ingest.h"
#include "ops/move_out.h"
#include "store/moveouts.h"
#include "store/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_REPORT "rpt"
#define ID_REFUND "rfd"
#define ID_PAYMENT "pay"
#define MAX_FINAL 64 /* final readings: one or a few per meter */

void api_register_statements_moveout(void);
void api_register_statements_moveout(void) { store_moveouts_register(); }

static json_t *moveout_json(const struct op_moveout_result *r)
{
	const struct moveout *m = &r->mo;
	json_t *refunds = json_array(), *meters = json_array();
	for (int i = 0; i < r->nrefunds; i++)
		json_array_append_new(refunds, json_pack("{s:o, s:o, s:I, s:s}", "id", api_id_json(ID_REFUND, r->refunds[i].id),
							 "payment_id", api_id_json(ID_PAYMENT, r->refunds[i].payment_id),
							 "amount_minor", (json_int_t)r->refunds[i].amount_minor, "state",
							 r->refunds[i].state));
	for (int i = 0; i < m->nmeters; i++)
		json_array_append_new(meters, api_id_json(ID_METER, m->meter_ids[i]));
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:I, s:{s:I, s:I}, s:{s:o, s:s, s:s, s:s}, s:o, s:I, s:I, s:I,"
			      " s:o, s:o}",
			      "tenant_id", api_id_json(ID_TENANT, m->tenant_id), "at", api_time_json(m->at_us), "at_date",
			      m->at_date, "settlement", m->settlement, "currency", m->currency, "final_balance_minor",
			      (json_int_t)m->final_balance_minor, "charges", "energy_minor", (json_int_t)m->energy_minor,
			      "shared_minor", (json_int_t)m->shared_minor, "statement", "id",
			      api_id_json(ID_REPORT, m->statement_id), "kind", "tenant_statement", "period",
			      r->statement_period[0] ? r->statement_period : "", "origin", "move_out", "refunds", refunds,
			      "refund_minor", (json_int_t)m->refund_minor, "cash_minor", (json_int_t)m->cash_minor,
			      "arrears_minor", (json_int_t)m->arrears_minor, "meter_ids", meters, "created_at",
			      api_time_json(m->created_us));
	if (!r->statement_period[0]) /* read back: the statement's month is at's */
		json_object_set_new(json_object_get(o, "statement"), "period", json_stringn(m->at_date, 7));
	const char *note = NULL;
	if (m->arrears_minor && strcmp(m->settlement, "carry"))
		note = "the balance is negative: nothing to pay back; it is left as arrears for collection";
	else if (m->arrears_minor)
		note = "the negative balance is left as arrears for collection";
	else if (m->refund_minor)
		note = "refunds go to the providers; the balance reaches 0 as each is confirmed";
	json_object_set_new(o, "note", note ? json_string(note) : json_null());
	return o;
}

struct moveout_tx {
	struct req *rq;
	struct op_moveout_req op;
	struct op_moveout_result res;
	bool done;
};

static enum db_status moveout_tx(PGconn *c, void *arg)
{
	struct moveout_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	op_moveout_result_free(&t->res);
	t->op.now_us = srv_clock_now_us();
	enum moveout_err err;
	if ((st = op_move_out(c, &t->op, &t->res, &err)) != DB_OK)
		return st;
	int bad = t->res.bad_index;
	switch (err) {
	case MO_OK:
		break;
	case MO_NO_TENANT:
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
		return DB_ABORT;
	case MO_DONE:
		api_error(rq, E_CONFLICT, json_pack("{s:o}", "move_out", moveout_json(&t->res)),
			  "tenant %s moved out already", rq->args[0]);
		return DB_ABORT;
	case MO_AT_FUTURE:
		api_error(rq, E_REFUSED, json_pack("{s:s}", "field", "at"), "at is in the future");
		return DB_ABORT;
	case MO_AT_MONTH:
		api_error(rq, E_REFUSED, json_pack("{s:s}", "field", "at"),
			  "at is in a month that has ended; a move-out is dated in the current month");
		return DB_ABORT;
	case MO_BEFORE_MOVE_IN:
		api_error(rq, E_REFUSED, json_pack("{s:s}", "field", "at"), "at is before the tenant moved in");
		return DB_ABORT;
	case MO_READING_AFTER:
		api_error(rq, E_REFUSED, json_pack("{s:s, s:i}", "field", "final_readings", "index", bad),
			  "final reading %d is after at", bad);
		return DB_ABORT;
	case MO_READING_METER:
		api_error(rq, E_REFUSED, json_pack("{s:s, s:i}", "field", "final_readings", "index", bad),
			  "final reading %d is not of one of the tenant's meters", bad);
		return DB_ABORT;
	case MO_READING_REFUSED: {
		const struct bill_reading *r = &t->op.rd[bad];
		api_error(rq, E_REFUSED,
			  json_pack("{s:s, s:i, s:s}", "field", "final_readings", "index", bad, "reading_code",
				    r->code ? r->code : "refused"),
			  "final reading %d was refused: %s", bad, r->message[0] ? r->message : "refused");
		return DB_ABORT;
	}
	case MO_CARRY_POSITIVE:
		api_error(rq, E_REFUSED, json_pack("{s:I}", "balance_minor", (json_int_t)t->res.mo.final_balance_minor),
			  "the balance is positive: money must go back (settlement refund or cash)");
		return DB_ABORT;
	case MO_OVERFLOW:
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "the balance would overflow");
		return DB_ABORT;
	}
	json_t *out = moveout_json(&t->res);
	st = api_audit(c, rq, "tenant.move_out",
		       json_pack("{s:O, s:O, s:O, s:O}", "tenant_id", json_object_get(out, "tenant_id"), "settlement",
				 json_object_get(out, "settlement"), "final_balance_minor",
				 json_object_get(out, "final_balance_minor"), "statement_id",
				 json_object_get(json_object_get(out, "statement"), "id")));
	api_reply(rq, 201, out);
	if (st != DB_OK)
		return st;
	t->done = true;
	return api_idem_finish(c, rq);
}

void api_moveout_create(struct req *rq)
{
	static const struct field spec[] = {
		{"at", FK_TIME, F_REQ, 0, 0, 0, 0},
		{"final_readings", FK_ARRAY, 0, 0, 0, 0, 0},
		{"settlement", FK_ENUM, F_REQ, 0, 0, mo_settlement_names, 0},
		{0},
	};
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_fields(rq, spec, false))
		return;
	json_t *arr = json_object_get(rq->json, "final_readings");
	size_t n = json_array_size(arr);
	if (n > MAX_FINAL) {
		api_field_error(rq, "final_readings", "at most %d final readings", MAX_FINAL);
		return;
	}
	struct moveout_tx t;
	memset(&t, 0, sizeof t);
	t.rq = rq;
	t.op.tenant_id = id;
	api_parse_time(api_body_str(rq, "at"), &t.op.at_us);
	for (int k = 0; mo_settlement_names[k]; k++)
		if (!strcmp(mo_settlement_names[k], api_body_str(rq, "settlement")))
			t.op.settlement = (enum mo_settlement)k;
	for (int p = 0; p < PROV__COUNT; p++)
		t.op.refunds_by[p] = prov_enabled((enum pay_provider)p);
	t.op.key_id = rq->who.key_id;
	t.op.request_id = rq->request_id;
	t.op.rd = calloc(n + 1, sizeof *t.op.rd);
	if (!t.op.rd)
		abort();
	t.op.nrd = (int)n;
	int64_t now = srv_clock_now_us();
	for (size_t i = 0; i < n; i++) {
		/* a reading as POST /v1/readings takes it, its meter named meter_id */
		json_t *o = json_array_get(arr, i), *mid = json_object_get(o, "meter_id");
		if (!json_is_object(o) || !json_is_string(mid) || json_object_get(o, "meter")) {
			api_field_error(rq, "final_readings", "reading %zu must be {\"meter_id\",\"ts\",\"energy_wh\"}", i);
			goto out;
		}
		json_t *r = json_copy(o);
		json_object_set(r, "meter", mid);
		json_object_del(r, "meter_id");
		t.op.rd[i].index = (int)i;
		t.op.rd[i].request_id = rq->request_id;
		mb_reading_decode(r, &t.op.rd[i], now);
		json_decref(r);
		if (t.op.rd[i].invalid) {
			api_field_error(rq, "final_readings", "reading %zu: %s", i, t.op.rd[i].message);
			goto out;
		}
	}
	if (!api_tx_failed(rq, db_run_tx(moveout_tx, &t)) && t.done)
		bill_ingest_committed(&t.res.batch);
out:
	op_moveout_result_free(&t.res);
	mb_readings_clear(t.op.rd, t.op.nrd);
	free(t.op.rd);
}

void api_moveout_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id)
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct op_moveout_result r;
	if (api_read_failed(rq, op_move_out_get(c, id, &r)))
		return;
	if (!r.mo.id) {
		bool exists;
		if (!api_read_failed(rq, store_tenant_exists(c, id, &exists)))
			api_error(rq, E_NOT_FOUND, NULL, exists ? "tenant %s has not moved out" : "no tenant %s",
				  rq->args[0]);
	} else {
		api_reply(rq, 200, moveout_json(&r));
	}
	op_moveout_result_free(&r);
}
