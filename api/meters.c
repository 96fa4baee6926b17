/* meters.c: /v1/meters. A meter belongs to a site and, unless it is a public-area meter,
 * to one of the site's tenants; its tariff and its gateway must be the site's. */
#include "api/api.h"
#include "core/clock.h"
#include "store/meters.h"
#include "ops/meter.h"

#include <stdlib.h>
#include <string.h>

void api_register_statements_meters(void);
void api_register_statements_meters(void) { store_meters_register(); }

static json_t *opt_id(const char *prefix, int64_t id) { return id ? api_id_json(prefix, id) : json_null(); }
static json_t *opt_int(int64_t v) { return v ? json_integer(v) : json_null(); }

static json_t *meter_json(const struct meter_row *m)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:I, s:o, s:o, s:b, s:o, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
			 api_id_json(ID_METER, m->id), "serial", m->serial, "site_id", api_id_json(ID_SITE, m->site_id),
			 "tenant_id", opt_id(ID_TENANT, m->tenant_id), "purpose", m->purpose, "tariff_id",
			 opt_id(ID_TARIFF, m->tariff_id), "multiplier", (json_int_t)m->multiplier, "max_power_w",
			 opt_int(m->max_power_w), "max_plausible_power_w", opt_int(m->max_plausible_power_w), "protected",
			 m->is_protected, "gateway",
			 m->gateway[0] ? json_string(m->gateway) : json_null(), "gateway_id", opt_id(ID_GATEWAY, m->gateway_id),
			 "status", m->status, "created_at",
			 api_time_json(m->created_us), "updated_at", api_time_json(m->updated_us), "register_max_wh",
			 opt_int(m->register_max_wh), "start_register_wh",
			 m->start_null ? json_null() : json_integer(m->start_register_wh));
}

static const char *const purposes[] = {"tenant", "hvac", "lighting", "elevator", "other", "main", NULL};
static const char *const statuses[] = {"active", "retired", NULL};

static const struct field meter_spec[] = {
	{"serial", FK_TEXT, F_REQ, 0, 64, 0, 0},
	{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
	{"tenant_id", FK_ID, F_NULL, 0, 0, 0, ID_TENANT},
	{"purpose", FK_ENUM, 0, 0, 0, purposes, 0},
	{"tariff_id", FK_ID, F_NULL, 0, 0, 0, ID_TARIFF},
	{"multiplier", FK_INT, 0, 1, 1000000, 0, 0},
	{"max_power_w", FK_INT, F_NULL, 1, 1000000000, 0, 0},
	{"max_plausible_power_w", FK_INT, F_NULL, 1, 1000000000, 0, 0},
	{"protected", FK_BOOL, 0, 0, 0, 0, 0},
	{"gateway", FK_URL, F_NULL, 0, 0, 0, 0},
	{"gateway_id", FK_ID, F_NULL, 0, 0, 0, ID_GATEWAY},
	{"status", FK_ENUM, 0, 0, 0, statuses, 0},
	{"register_max_wh", FK_INT, F_NULL, 1, INT64_C(1000000000000000), 0, 0},
	{"start_register_wh", FK_INT, 0, 0, INT64_C(1000000000000000), 0, 0},
	{0},
};

struct meter_tx {
	struct req *rq;
	int64_t site;
	json_t *out;
};

/* An operation's refusal as the API says it; DB_ABORT, or the status when there is none. */
static enum db_status refused(struct req *rq, enum db_status st, enum op_meter_err err, const char *serial)
{
	switch (err) {
	case OP_METER_OK:
		return st;
	case OP_METER_NO_SITE:
		api_field_error(rq, "site_id", "no such site");
		break;
	case OP_METER_NO_TENANT:
		api_field_error(rq, "tenant_id", "no such tenant on this site");
		break;
	case OP_METER_NO_TARIFF:
		api_field_error(rq, "tariff_id", "no such tariff on this site");
		break;
	case OP_METER_NO_GATEWAY:
		api_field_error(rq, "gateway_id", "no such gateway on this site");
		break;
	case OP_METER_SERIAL_TAKEN:
		api_error(rq, E_ALREADY_EXISTS, json_pack("{s:s}", "field", "serial"), "a meter with serial %s exists", serial);
		break;
	case OP_METER_NOT_FOUND:
		api_error(rq, E_NOT_FOUND, NULL, "no meter %s", serial);
		break;
	}
	return DB_ABORT;
}

/* What the body sets. */
static void body_fields(struct req *rq, struct meter_fields *f)
{
	memset(f, 0, sizeof *f);
	f->serial = api_body_str(rq, "serial");
	f->purpose = api_body_str(rq, "purpose");
	f->gateway = api_body_str(rq, "gateway");
	f->status = api_body_str(rq, "status");
	f->tenant_id = api_body_id(rq, ID_TENANT, "tenant_id");
	f->tariff_id = api_body_id(rq, ID_TARIFF, "tariff_id");
	f->gateway_id = api_body_id(rq, ID_GATEWAY, "gateway_id");
	f->set_gateway_id = api_body_has(rq, "gateway_id");
	f->has_multiplier = api_body_has(rq, "multiplier");
	f->multiplier = api_body_int(rq, "multiplier");
	f->max_power_w = api_body_int(rq, "max_power_w");
	f->register_max_wh = api_body_int(rq, "register_max_wh");
	f->has_start = api_body_has(rq, "start_register_wh");
	f->start_register_wh = api_body_int(rq, "start_register_wh");
	f->set_tenant = api_body_has(rq, "tenant_id");
	f->set_tariff = api_body_has(rq, "tariff_id");
	f->set_max_power = api_body_has(rq, "max_power_w");
	f->max_plausible_power_w = api_body_int(rq, "max_plausible_power_w");
	f->set_max_plausible = api_body_has(rq, "max_plausible_power_w");
	f->set_gateway = api_body_has(rq, "gateway");
	f->set_register_max = api_body_has(rq, "register_max_wh");
	json_t *prot = json_object_get(rq->json, "protected");
	f->is_protected = prot ? json_is_true(prot) : -1;
}

static enum db_status meter_create_tx(PGconn *c, void *arg)
{
	struct meter_tx *t = arg;
	struct req *rq = t->rq;
	struct meter_fields f;
	body_fields(rq, &f);
	struct meter_row m;
	enum op_meter_err err;
	enum db_status st = op_meter_register(c, t->site, &f, srv_clock_now_us(), &m, &err);
	if (st != DB_OK || err)
		return refused(rq, st, err, f.serial);
	json_decref(t->out);
	t->out = meter_json(&m);
	return api_audit(c, rq, "meter.create", json_pack("{s:O, s:s}", "id", json_object_get(t->out, "id"), "serial",
							  f.serial));
}

void api_meters_create(struct req *rq)
{
	if (api_fields(rq, meter_spec, false))
		return;
	if (api_body_has(rq, "status")) {
		api_field_error(rq, "status", "a new meter is active");
		return;
	}
	struct meter_tx t = {rq, api_body_id(rq, ID_SITE, "site_id"), NULL};
	if (api_tx_failed(rq, db_run_tx(meter_create_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_meters_list(struct req *rq)
{
	int64_t sid, tid, limit, after;
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_query_id(rq, "tenant_id", ID_TENANT, &tid) ||
	    api_page(rq, ID_METER, &limit, &after))
		return;
	PGconn *c = api_read_conn(rq);
	if (!c)
		return;
	struct meter_row *v;
	int n;
	if (api_read_failed(rq, store_meters_list(c, after, limit + 1, sid, tid, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, meter_json(&v[i]));
	free(v);
	api_reply(rq, 200, api_page_reply(items, limit));
}

void api_meters_get(struct req *rq)
{
	PGconn *c = api_conn(rq);
	struct meter_row m;
	if (!c || api_read_failed(rq, store_meter_get(c, api_id_parse(ID_METER, rq->args[0]), rq->args[0], &m)))
		return;
	if (m.id)
		api_reply(rq, 200, meter_json(&m));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no meter %s", rq->args[0]);
}

static enum db_status meter_patch_tx(PGconn *c, void *arg)
{
	struct meter_tx *t = arg;
	struct req *rq = t->rq;
	struct meter_fields f;
	body_fields(rq, &f);
	struct meter_row m;
	enum op_meter_err err;
	enum db_status st = op_meter_change(c, api_id_parse(ID_METER, rq->args[0]), rq->args[0], &f, srv_clock_now_us(),
					    &m, &err);
	if (st != DB_OK || err)
		return refused(rq, st, err, rq->args[0]);
	json_decref(t->out);
	t->out = meter_json(&m);
	return api_audit(c, rq, "meter.update", json_pack("{s:O, s:O}", "id", json_object_get(t->out, "id"), "changes",
							  rq->json));
}

void api_meters_patch(struct req *rq)
{
	struct meter_tx t = {rq, 0, NULL};
	static const char *const fixed[] = {"serial", "site_id", "start_register_wh", NULL};
	for (const char *const *f = fixed; *f; f++)
		if (api_body_has(rq, *f)) {
			api_field_error(rq, *f, "cannot change; retire the meter and register a new one");
			return;
		}
	if (api_fields(rq, meter_spec, true))
		return;
	if (api_tx_failed(rq, db_run_tx(meter_patch_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}
