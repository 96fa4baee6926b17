/* orders.c: POST /v1/topup-orders and GET /v1/topup-orders/{id}: an order for a tenant to
 * pay at a provider, with the pay_url of WATTLE_PAY_URL's portal and its QR code. */
#include "api/payments.h"
#include "api/qr.h"
#include "core/clock.h"
#include "store/moveouts.h"
#include "store/payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static json_t *order_json(const struct order *o)
{
	const char *status = o->status;
	if (!strcmp(status, "open") && o->expires_us <= srv_clock_now_us())
		status = "expired";
	json_t *j = json_pack("{s:o, s:s, s:o, s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
			      api_id_json(ID_ORDER, o->id), "out_trade_no", o->out_trade_no, "tenant_id",
			      api_id_json(ID_TENANT, o->tenant_id), "provider", o->provider, "amount_minor",
			      (json_int_t)o->amount_minor, "currency", o->currency, "status", status, "pay_url",
			      o->pay_url, "created_at", api_time_json(o->created_us), "expires_at",
			      api_time_json(o->expires_us), "paid_at", o->paid_us ? api_time_json(o->paid_us) : json_null(),
			      "payment_id", o->payment_id ? api_id_json(ID_PAYMENT, o->payment_id) : json_null());
	char *svg = api_qr_svg(o->pay_url);
	json_object_set_new(j, "qr_svg", svg ? json_string(svg) : json_null());
	free(svg);
	return j;
}

struct order_tx {
	struct req *rq;
	int64_t tenant_id;
	const char *provider;
	json_t *out;
};

static enum db_status order_tx(PGconn *c, void *arg)
{
	struct order_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	struct order o = {0};
	bool found;
	if ((st = store_account_currency(c, t->tenant_id, o.currency, &found)) != DB_OK)
		return st;
	if (!found) {
		api_field_error(rq, "tenant_id", "no tenant %s", api_body_str(rq, "tenant_id"));
		return DB_ABORT;
	}
	bool closed; /* a tenant that moved out takes no new money (a payment that comes anyway is a conflict) */
	if ((st = store_account_closed(c, t->tenant_id, &closed)) != DB_OK)
		return st;
	if (closed) {
		api_error(rq, E_ACCOUNT_CLOSED, NULL, "tenant %s moved out: its account takes no new money",
			  api_body_str(rq, "tenant_id"));
		return DB_ABORT;
	}
	/* out_trade_no: 26 characters WeChat, Alipay and Stripe all accept; random, so that
	 * an order number tells nothing and cannot be guessed. */
	unsigned char raw[12];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return DB_HARD;
	snprintf(o.out_trade_no, sizeof o.out_trade_no, "wt");
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(o.out_trade_no + 2 + 2 * i, 3, "%02x", raw[i]);
	o.tenant_id = t->tenant_id;
	snprintf(o.provider, sizeof o.provider, "%s", t->provider);
	o.amount_minor = api_body_int(rq, "amount_minor");
	o.created_us = srv_clock_now_us();
	o.expires_us = o.created_us + pay_cfg.ttl_s * 1000000;
	snprintf(o.pay_url, sizeof o.pay_url, "%s%cprovider=%s&out_trade_no=%s&amount_minor=%lld&currency=%s",
		 pay_cfg.pay_url, strchr(pay_cfg.pay_url, '?') ? '&' : '?', t->provider, o.out_trade_no,
		 (long long)o.amount_minor, o.currency);
	if ((st = store_order_insert(c, &o, rq->who.key_id)) != DB_OK)
		return st;
	json_decref(t->out);
	t->out = order_json(&o);
	api_reply(rq, 201, json_incref(t->out));
	st = api_audit(c, rq, "topup_order.create",
		       json_pack("{s:O, s:O, s:I}", "id", json_object_get(t->out, "id"), "tenant_id",
				 json_object_get(t->out, "tenant_id"), "amount_minor", (json_int_t)o.amount_minor));
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

void api_orders_create(struct req *rq)
{
	static const struct field spec[] = {
		{"tenant_id", FK_ID, F_REQ, 0, 0, 0, ID_TENANT},
		{"amount_minor", FK_INT, F_REQ, 1, MAX_AMOUNT, 0, 0},
		{"provider", FK_ENUM, F_REQ, 0, 0, pay_provider_names, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct order_tx t = {rq, api_body_id(rq, ID_TENANT, "tenant_id"), api_body_str(rq, "provider"), NULL};
	if (api_tenant_scope(rq, t.tenant_id))
		return;
	if (!pay_cfg.on[pay_provider_parse(t.provider)]) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL, "%s is not configured on this server",
			  t.provider);
		return;
	}
	api_tx_failed(rq, db_run_tx(order_tx, &t));
	json_decref(t.out);
}

void api_orders_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_ORDER, "top-up order");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	struct order o;
	if (api_read_failed(rq, store_order_get(c, id, &o)))
		return;
	if (!o.id || (rq->who.role == ROLE_TENANT && o.tenant_id != rq->who.tenant_id)) {
		/* another tenant's order does not exist as far as a tenant key can tell */
		api_error(rq, E_NOT_FOUND, NULL, "no top-up order %s", rq->args[0]);
		return;
	}
	api_reply(rq, 200, order_json(&o));
}
