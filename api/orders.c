/* orders.c: POST /v1/topup-orders and GET /v1/topup-orders/{id}: an order for a tenant to
 * pay, made with the provider (api/provider.h) when wattle holds the provider's API
 * credentials, else pointing at the WATTLE_PAY_URL portal; and the query worker's tick,
 * which asks the providers about open orders until they are paid, closed or expired.
 *
 * The order row exists before the provider is called ("creating") and records the outcome
 * after, in a second transaction: the call is never made inside one. A provider that
 * refuses leaves the order failed with its code; one that does not answer leaves it failed
 * too, and the query worker asks about it at once and closes it, so that an order the
 * provider did make can never be paid unseen (or, if it was, is credited). */
#include "api/payments.h"
#include "api/provider.h"
#include "api/metrics.h"
#include "api/qr.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/moveouts.h"
#include "store/payments.h"
#include "store/tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static json_t *order_json(const struct order *o)
{
	const char *status = o->status;
	if (!strcmp(status, "open") && o->expires_us <= srv_clock_now_us())
		status = "expired";
	json_t *j = json_pack("{s:o, s:s, s:o, s:s, s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
			      api_id_json(ID_ORDER, o->id), "out_trade_no", o->out_trade_no, "tenant_id",
			      api_id_json(ID_TENANT, o->tenant_id), "provider", o->provider, "amount_minor",
			      (json_int_t)o->amount_minor, "currency", o->currency, "status", status, "mode", o->mode,
			      "pay_url", o->pay_url, "created_at", api_time_json(o->created_us), "expires_at",
			      api_time_json(o->expires_us), "paid_at", o->paid_us ? api_time_json(o->paid_us) : json_null(),
			      "payment_id", o->payment_id ? api_id_json(ID_PAYMENT, o->payment_id) : json_null());
	char *svg = *o->pay_url ? api_qr_svg(o->pay_url) : NULL;
	json_object_set_new(j, "qr_svg", svg ? json_string(svg) : json_null());
	free(svg);
	json_error_t e;
	json_t *pp = *o->pay_params ? json_loads(o->pay_params, 0, &e) : NULL;
	json_object_set_new(j, "pay_params", pp ? pp : json_null());
	if (*o->provider_code)
		json_object_set_new(j, "provider_error",
				    json_pack("{s:s, s:s}", "code", o->provider_code, "message", o->provider_message));
	return j;
}

/* The order as it stands: 201 unless it failed at the provider (502, or 504 when the
 * provider did not answer), with the order in the error's details. */
static void reply_order(struct req *rq, const struct order *o)
{
	if (strcmp(o->status, "failed")) {
		api_reply(rq, 201, order_json(o));
		return;
	}
	bool timeout = !strcmp(o->provider_code, "timeout");
	api_error(rq, timeout ? E_PROVIDER_TIMEOUT : E_PROVIDER_ERROR, json_pack("{s:o}", "order", order_json(o)),
		  "%s %s: %s", o->provider, timeout ? "did not answer in time" : "refused the order",
		  *o->provider_message ? o->provider_message : o->provider_code);
}

struct order_tx {
	struct req *rq;
	int64_t tenant_id;
	const char *provider, *mode, *openid;
	bool fresh; /* not a replay of an Idempotency-Key */
	struct order o;
	char description[128];
};

static enum db_status order_tx(PGconn *c, void *arg)
{
	struct order_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = api_idem_begin(c, rq);
	if (st != DB_OK)
		return st;
	t->fresh = true;
	struct order *o = &t->o;
	memset(o, 0, sizeof *o);
	struct tenant ten;
	if ((st = store_tenant_get(c, t->tenant_id, &ten)) != DB_OK)
		return st;
	bool found = false;
	if (ten.id && (st = store_account_currency(c, t->tenant_id, o->currency, &found)) != DB_OK)
		return st;
	if (!found) {
		api_field_error(rq, "tenant_id", "no tenant %s with an account", api_body_str(rq, "tenant_id"));
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
	snprintf(t->description, sizeof t->description, "%.90s: electricity top-up", ten.name);
	/* out_trade_no: 26 characters WeChat, Alipay and Stripe all accept; random, so that
	 * an order number tells nothing and cannot be guessed. */
	unsigned char raw[12];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return DB_HARD;
	snprintf(o->out_trade_no, sizeof o->out_trade_no, "wt");
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(o->out_trade_no + 2 + 2 * i, 3, "%02x", raw[i]);
	o->tenant_id = t->tenant_id;
	snprintf(o->provider, sizeof o->provider, "%s", t->provider);
	snprintf(o->mode, sizeof o->mode, "%s", t->mode);
	snprintf(o->openid, sizeof o->openid, "%s", t->openid ? t->openid : "");
	o->amount_minor = api_body_int(rq, "amount_minor");
	o->created_us = srv_clock_now_us();
	o->expires_us = o->created_us + pay_cfg.ttl_s * 1000000;
	if (!strcmp(t->mode, "portal")) {
		snprintf(o->status, sizeof o->status, "open");
		snprintf(o->pay_url, sizeof o->pay_url, "%s%cprovider=%s&out_trade_no=%s&amount_minor=%lld&currency=%s",
			 pay_cfg.pay_url, strchr(pay_cfg.pay_url, '?') ? '&' : '?', t->provider, o->out_trade_no,
			 (long long)o->amount_minor, o->currency);
	} else {
		snprintf(o->status, sizeof o->status, "creating");
	}
	/* A creating order is due for the query worker after a lease: if this process dies
	 * during the call, the worker asks the provider and closes what it may have made. */
	int64_t lease = !strcmp(o->status, "creating") ? o->created_us + 2 * pay_cfg.timeout_ms * 1000 + 60000000 : 0;
	if ((st = store_order_insert(c, o, rq->who.key_id, lease)) != DB_OK)
		return st;
	json_t *j = order_json(o);
	api_reply(rq, 201, json_incref(j));
	st = api_audit(c, rq, "topup_order.create",
		       json_pack("{s:O, s:O, s:I, s:s}", "id", json_object_get(j, "id"), "tenant_id",
				 json_object_get(j, "tenant_id"), "amount_minor", (json_int_t)o->amount_minor, "mode",
				 o->mode));
	json_decref(j);
	if (st != DB_OK)
		return st;
	return api_idem_finish(c, rq);
}

struct outcome_tx {
	int64_t id;
	struct order *o;
	int64_t next_us;
};

static enum db_status outcome_tx(PGconn *c, void *arg)
{
	struct outcome_tx *t = arg;
	enum db_status st = store_order_outcome(c, t->id, t->o, t->next_us);
	if (st == DB_OK)
		st = store_order_get(c, t->id, t->o);
	return st;
}

/* The call to the provider for a "creating" order, and its outcome recorded (on a
 * provider-call thread: prov_offload; arg is a new struct order_tx, freed here). */
static void create_at_provider(struct req *rq, void *arg)
{
	struct order_tx *t = arg;
	struct order *o = &t->o;
	enum pay_provider p = (enum pay_provider)pay_provider_parse(o->provider);
	int64_t now_s = (int64_t)time(NULL); /* the provider's clock is the real one */
	struct prov_order_req pr = {o->out_trade_no, o->id, o->tenant_id, o->amount_minor, o->currency, t->description,
				    now_s + pay_cfg.ttl_s, now_s, !strcmp(o->mode, "h5"),
				    *o->openid ? o->openid : NULL};
	struct prov_order po;
	struct prov_status ps;
	int64_t t0 = srv_mono_us();
	int rc = prov_order_create(p, &pr, &po, &ps);
	int64_t took_ms = (srv_mono_us() - t0) / 1000;
	int64_t now = srv_clock_now_us(), next = 0;
	if (rc == 0) {
		snprintf(o->status, sizeof o->status, "open");
		snprintf(o->pay_url, sizeof o->pay_url, "%s", po.pay_url);
		snprintf(o->provider_ref, sizeof o->provider_ref, "%s", po.provider_ref);
		char *pp = po.pay_params ? json_dumps(po.pay_params, JSON_COMPACT) : NULL;
		snprintf(o->pay_params, sizeof o->pay_params, "%s", pp ? pp : "");
		free(pp);
		json_decref(po.pay_params);
		next = now + pay_cfg.query_after_s * 1000000;
		srv_log(LOG_INFO, "orders: ord_%lld %s %s %lld %s made in %lld ms", (long long)o->id, o->provider,
			o->out_trade_no, (long long)o->amount_minor, o->currency, (long long)took_ms);
	} else {
		snprintf(o->status, sizeof o->status, "failed");
		snprintf(o->provider_code, sizeof o->provider_code, "%s", *ps.code ? ps.code : prov_result_name(ps.result));
		snprintf(o->provider_message, sizeof o->provider_message, "%s", ps.message);
		/* No answer: the provider may have made it. Ask at once, and close it. */
		if (ps.result != PR_REFUSED)
			next = now;
		srv_log(LOG_WARN, "orders: ord_%lld %s %s: %s %s (%s) after %lld ms", (long long)o->id, o->provider,
			o->out_trade_no, prov_result_name(ps.result), o->provider_code, ps.message, (long long)took_ms);
	}
	api_order_count(p, rc == 0 ? "created" : ps.result == PR_TIMEOUT ? "timeout" : ps.result == PR_REFUSED ? "refused" : "error");
	struct outcome_tx ot = {o->id, o, next};
	if (!api_tx_failed(rq, db_run_tx(outcome_tx, &ot)))
		reply_order(rq, o);
	free(t);
}

void api_orders_create(struct req *rq)
{
	static const char *const modes[] = {"qr", "h5", NULL};
	static const struct field spec[] = {
		{"tenant_id", FK_ID, F_REQ, 0, 0, 0, ID_TENANT},
		{"amount_minor", FK_INT, F_REQ, 1, MAX_AMOUNT, 0, 0},
		{"provider", FK_ENUM, F_REQ, 0, 0, pay_provider_names, 0},
		{"mode", FK_ENUM, 0, 0, 0, modes, 0},
		{"openid", FK_TEXT, 0, 0, 128, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct order_tx t = {rq, api_body_id(rq, ID_TENANT, "tenant_id"), api_body_str(rq, "provider"), "qr",
			     api_body_str(rq, "openid"), false, {0}, ""};
	const char *mode = api_body_str(rq, "mode");
	if (api_tenant_scope(rq, t.tenant_id))
		return;
	enum pay_provider p = (enum pay_provider)pay_provider_parse(t.provider);
	if (mode && !strcmp(mode, "h5") && p != PROV_ALIPAY) {
		api_field_error(rq, "mode", "h5 (a phone browser's pay page) is Alipay's wap pay; %s has none", t.provider);
		return;
	}
	if (t.openid && p != PROV_WECHAT) {
		api_field_error(rq, "openid", "an openid is WeChat's (JSAPI inside the official account)");
		return;
	}
	if (mode && t.openid && strcmp(mode, "qr")) {
		api_field_error(rq, "mode", "an order with an openid is paid inside WeChat, not by %s", mode);
		return;
	}
	t.mode = t.openid ? "jsapi" : mode ? mode : "qr";
	/* Without the provider's notification settings no payment could be believed; without
	 * its API credentials the order goes to the portal, when there is one. */
	if (!pay_cfg.on[p] || (!prov_enabled(p) && !pay_cfg.pay_url)) {
		api_error(rq, E_PROVIDER_NOT_CONFIGURED, NULL,
			  "%s is not configured on this server (%s)", t.provider,
			  !pay_cfg.on[p] ? "no notification settings" : "no API credentials and no WATTLE_PAY_URL");
		return;
	}
	if (!prov_enabled(p)) {
		if (t.openid || (mode && !strcmp(mode, "h5"))) {
			api_field_error(rq, t.openid ? "openid" : "mode", "needs %s's API credentials", t.provider);
			return;
		}
		t.mode = "portal";
	}
	if (api_tx_failed(rq, db_run_tx(order_tx, &t)))
		return;
	if (!t.fresh) { /* a replay: the order as it stands now */
		json_t *id = json_object_get(rq->reply, "id");
		int64_t oid = rq->status == 201 ? api_id_parse(ID_ORDER, json_string_value(id)) : 0;
		PGconn *c = oid ? api_conn(rq) : NULL;
		struct order o;
		if (c && !api_read_failed(rq, store_order_get(c, oid, &o)) && o.id)
			reply_order(rq, &o);
		return;
	}
	if (strcmp(t.o.status, "creating"))
		return;
	struct order_tx *job = malloc(sizeof *job);
	if (!job)
		abort();
	*job = t;
	prov_offload(rq, create_at_provider, job);
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
