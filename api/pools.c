/* pools.c: /v1/cost-pools, their runs (preview or commit), reversal, a tenant's
 * allocations and a site's reconciliation: HTTP adapters over ops/allocation.c and
 * store/pools.c. */
#include "api/api.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/money.h"
#include "core/valid.h"
#include "ops/allocation.h"
#include "store/pools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_POOL "pool"
#define ID_RUN "run"
#define MAX_MEMBERS 500
#define MAX_METERS 500

void api_register_statements_pools(void);
void api_register_statements_pools(void) { store_pools_register(); }

static json_t *ids_json(const char *prefix, const int64_t *ids, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, api_id_json(prefix, ids[i]));
	return a;
}

static json_t *opt_id(const char *prefix, int64_t id) { return id ? api_id_json(prefix, id) : json_null(); }

static json_t *pool_json(const struct pool *p)
{
	json_t *members = json_array();
	for (int i = 0; i < p->nmembers; i++)
		json_array_append_new(members, json_pack("{s:o, s:I}", "tenant_id", api_id_json(ID_TENANT, p->members[i].tenant_id),
							 "quota_ppm", (json_int_t)p->members[i].quota_ppm));
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:o}", "id", api_id_json(ID_POOL, p->id),
			 "site_id", api_id_json(ID_SITE, p->site_id), "name", p->name, "method",
			 alloc_method_name(p->method), "meter_ids", ids_json(ID_METER, p->meter_ids, p->nmeters),
			 "main_meter_id", opt_id(ID_METER, p->main_meter_id), "minus_meter_ids",
			 ids_json(ID_METER, p->minus_ids, p->nminus), "tariff_id", opt_id(ID_TARIFF, p->tariff_id),
			 "auto", p->is_auto, "prorate", p->prorate, "members", members);
}

/* A JSON array of "<prefix>_<n>" into a new id array; -1 when one is not such an id or
 * there are more than max. NULL (absent) is empty. */
static int id_array(json_t *arr, const char *prefix, int max, int64_t **out, int *n)
{
	size_t i, size = json_array_size(arr);
	json_t *v;
	*out = calloc(size + 1, sizeof **out);
	*n = 0;
	if (!*out)
		abort();
	if (size > (size_t)max)
		return -1;
	json_array_foreach(arr, i, v) {
		int64_t id = api_id_parse(prefix, json_string_value(v));
		if (!id)
			return -1;
		(*out)[(*n)++] = id;
	}
	return 0;
}

struct pool_tx {
	struct req *rq;
	struct pool p;
	json_t *out;
};

static enum db_status pool_create_tx(PGconn *c, void *arg)
{
	struct pool_tx *t = arg;
	struct req *rq = t->rq;
	struct pool_refs refs;
	enum db_status st = store_pool_refs(c, &t->p, &refs);
	if (st != DB_OK)
		return st;
	if (!refs.site)
		return api_field_error(rq, "site_id", "no such site"), DB_ABORT;
	if (refs.public_meters != t->p.nmeters)
		return api_field_error(rq, "meter_ids", "each must be a public meter (no tenant) of this site"), DB_ABORT;
	if (refs.site_meters != t->p.nminus + (t->p.main_meter_id ? 1 : 0))
		return api_field_error(rq, t->p.main_meter_id ? "main_meter_id" : "minus_meter_ids",
				       "each must be a meter of this site"),
		       DB_ABORT;
	if (refs.site_tenants != t->p.nmembers)
		return api_field_error(rq, "members", "each tenant must be on this site, once"), DB_ABORT;
	if (t->p.tariff_id && strcmp(refs.tariff_kind, "flat"))
		return api_field_error(rq, "tariff_id", "must be a flat tariff of this site (leave it out to use the billed cost)"),
		       DB_ABORT;
	st = store_pool_insert(c, &t->p, srv_clock_now_us());
	if (st == DB_UNIQUE)
		return api_field_error(rq, "members", "a tenant is listed twice"), DB_ABORT;
	if (st != DB_OK)
		return st;
	struct pool got;
	if ((st = store_pool_get(c, t->p.id, &got)) != DB_OK)
		return st;
	json_decref(t->out);
	t->out = pool_json(&got);
	store_pool_free(&got);
	return api_audit(c, rq, "cost_pool.create", json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

/* The members of a create body into t->p.members; replies 400 and returns -1 when bad. */
static int parse_members(struct req *rq, struct pool *p)
{
	json_t *members = json_object_get(rq->json, "members"), *m;
	size_t i, size = json_array_size(members);
	if (size < 1 || size > MAX_MEMBERS)
		return api_field_error(rq, "members", "1 to %d members", MAX_MEMBERS);
	bool quota = p->method == ALLOC_QUOTA;
	int64_t ppm_sum = 0;
	p->members = calloc(size + 1, sizeof *p->members);
	if (!p->members)
		abort();
	json_array_foreach(members, i, m) {
		int64_t tid = api_id_parse(ID_TENANT, json_string_value(json_object_get(m, "tenant_id")));
		json_t *q = json_object_get(m, "quota_ppm");
		if (!json_is_object(m) || !tid || json_object_size(m) != (q ? 2u : 1u))
			return api_field_error(rq, "members", "each member is {\"tenant_id\"} (and \"quota_ppm\" for quota)");
		if (quota != (q != NULL) || (q && (!json_is_integer(q) || json_integer_value(q) < 0 ||
						   json_integer_value(q) > 1000000)))
			return api_field_error(rq, "members", quota ? "every member of a quota pool needs quota_ppm 0..1000000"
								    : "quota_ppm belongs to quota pools only");
		ppm_sum += q ? json_integer_value(q) : 0;
		p->members[p->nmembers++] = (struct pool_member){tid, q ? json_integer_value(q) : 0};
	}
	if (quota && ppm_sum != 1000000)
		return api_field_error(rq, "members", "quota_ppm must sum to 1000000 (they sum to %lld)", (long long)ppm_sum);
	return 0;
}

void api_pools_create(struct req *rq)
{
	static const char *const methods[] = {"area", "consumption", "quota", NULL};
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"method", FK_ENUM, F_REQ, 0, 0, methods, 0},
		{"meter_ids", FK_ARRAY, 0, 0, 0, 0, 0},
		{"main_meter_id", FK_ID, F_NULL, 0, 0, 0, ID_METER},
		{"minus_meter_ids", FK_ARRAY, 0, 0, 0, 0, 0},
		{"tariff_id", FK_ID, F_NULL, 0, 0, 0, ID_TARIFF},
		{"members", FK_ARRAY, F_REQ, 0, 0, 0, 0},
		{"auto", FK_BOOL, 0, 0, 0, 0, 0},
		{"prorate", FK_BOOL, 0, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct pool_tx t = {rq, {0}, NULL};
	struct pool *p = &t.p;
	p->site_id = api_body_id(rq, ID_SITE, "site_id");
	snprintf(p->name, sizeof p->name, "%s", api_body_str(rq, "name"));
	p->method = (enum alloc_method)alloc_method_parse(api_body_str(rq, "method"));
	p->main_meter_id = api_body_id(rq, ID_METER, "main_meter_id");
	p->tariff_id = api_body_id(rq, ID_TARIFF, "tariff_id");
	p->is_auto = json_is_true(json_object_get(rq->json, "auto"));
	p->prorate = json_is_true(json_object_get(rq->json, "prorate"));
	if (id_array(json_object_get(rq->json, "meter_ids"), ID_METER, MAX_METERS, &p->meter_ids, &p->nmeters))
		api_field_error(rq, "meter_ids", "at most %d meter ids like mtr_1", MAX_METERS);
	else if (id_array(json_object_get(rq->json, "minus_meter_ids"), ID_METER, MAX_METERS, &p->minus_ids, &p->nminus))
		api_field_error(rq, "minus_meter_ids", "at most %d meter ids like mtr_1", MAX_METERS);
	else if (p->nmeters + (p->main_meter_id ? 1 : 0) == 0)
		api_field_error(rq, "meter_ids", "a pool needs a public meter or a main_meter_id");
	else if (p->nminus && !p->main_meter_id)
		api_field_error(rq, "minus_meter_ids", "only a virtual meter (main_meter_id) subtracts meters");
	else if (parse_members(rq, p) == 0 && !api_tx_failed(rq, db_run_tx(pool_create_tx, &t))) {
		api_reply(rq, 201, t.out);
		t.out = NULL;
	}
	json_decref(t.out);
	store_pool_free(p);
}

void api_pools_list(struct req *rq)
{
	int64_t sid, limit, after;
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_page(rq, ID_POOL, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct pool *pools;
	int n;
	if (api_read_failed(rq, store_pool_list(c, after, limit + 1, sid, &pools, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, pool_json(&pools[i]));
	store_pools_free(pools, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* A run's reply (before "committed" and "id" are set): the same keys it is stored with. */
static json_t *run_result_json(const struct alloc_run *r)
{
	json_t *lines = json_array();
	for (int i = 0; i < r->nlines; i++) {
		const struct alloc_line *l = &r->lines[i];
		char area[32];
		json_t *basis = r->method == ALLOC_AREA ? json_string(bill_format_decimal(l->basis, 2, area, sizeof area))
							: json_integer(l->basis);
		json_t *line = json_pack("{s:o, s:o, s:s, s:I}", "tenant_id", api_id_json(ID_TENANT, l->tenant_id), "basis",
					 basis, "basis_unit", alloc_basis_unit(r->method), "amount_minor",
					 (json_int_t)l->amount_minor);
		if (l->settled) /* paid at the tenant's move-out, not posted by this run */
			json_object_set_new(line, "settled_at_move_out", json_true());
		if (r->prorate) {
			json_object_set_new(line, "days", json_integer(l->days));
			json_object_set_new(line, "days_in_period", json_integer(l->days_in_period));
		}
		json_array_append_new(lines, line);
	}
	return json_pack("{s:o, s:s, s:s, s:I, s:I, s:o, s:b}", "pool_id", api_id_json(ID_POOL, r->pool_id), "period",
			 r->period, "method", alloc_method_name(r->method), "total_wh", (json_int_t)r->total_wh,
			 "total_minor", (json_int_t)r->total_minor, "lines", lines, "committed", 0);
}

/* Reply for a refused allocation (nothing changed: the caller rolls back). */
static void alloc_error(struct req *rq, enum op_alloc_err e, const struct alloc_run *r, const char *period)
{
	switch (e) {
	case OP_ALLOC_OK:
		break;
	case OP_ALLOC_NO_POOL:
		api_error(rq, E_NOT_FOUND, NULL, "no cost pool %s", rq->args[0]);
		break;
	case OP_ALLOC_NO_BASIS:
	case OP_ALLOC_NO_OCCUPANCY:
		api_error(rq, E_REFUSED, json_pack("{s:s}", "method", alloc_method_name(r->method)),
			  e == OP_ALLOC_NO_OCCUPANCY ? "no member occupied its unit this period: nothing to share by"
						     : "no member consumed energy this period: nothing to share by");
		break;
	case OP_ALLOC_OVERFLOW:
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "the pool's cost or its shares overflow");
		break;
	case OP_ALLOC_COMMITTED:
		api_error(rq, E_CONFLICT, json_pack("{s:s}", "period", period),
			  "this pool's %s is committed already; reverse that run first", period);
		break;
	case OP_ALLOC_NO_ACCOUNT:
		api_error(rq, E_NOT_FOUND, NULL, "%d lines name a tenant without an account", r ? r->missing : 0);
		break;
	case OP_ALLOC_BALANCE_OVERFLOW:
		api_error(rq, E_BALANCE_OVERFLOW, NULL, "a balance would overflow");
		break;
	case OP_ALLOC_NOT_COMMITTED:
		api_error(rq, E_CONFLICT, NULL, "no committed allocation run %s", rq->args[0]);
		break;
	}
}

struct run_tx {
	struct req *rq;
	struct op_alloc_req op;
};

static enum db_status run_tx(PGconn *c, void *arg)
{
	struct run_tx *t = arg;
	struct req *rq = t->rq;
	enum db_status st = t->op.commit ? api_idem_begin(c, rq) : DB_OK;
	if (st != DB_OK)
		return st;
	struct alloc_run run;
	enum op_alloc_err err;
	t->op.now_us = srv_clock_now_us();
	st = op_alloc_run(c, &t->op, &run, &err);
	if (st == DB_OK && err) {
		alloc_error(rq, err, &run, t->op.period);
		st = DB_ABORT;
	}
	if (st != DB_OK) {
		alloc_run_free(&run);
		return st;
	}
	json_t *out = run_result_json(&run);
	int64_t run_id = run.run_id;
	alloc_run_free(&run);
	if (!t->op.commit) {
		api_reply(rq, 200, out);
		return DB_OK;
	}
	json_object_set_new(out, "committed", json_true());
	json_object_set_new(out, "id", api_id_json(ID_RUN, run_id));
	api_reply(rq, 201, out);
	st = api_audit(c, rq, "allocation.commit",
		       json_pack("{s:O, s:s}", "id", json_object_get(out, "id"), "period", t->op.period));
	return st != DB_OK ? st : api_idem_finish(c, rq);
}

/* POST /v1/cost-pools/{id}/runs {"period":"2026-10","commit":false|true} */
void api_pool_runs_create(struct req *rq)
{
	static const struct field spec[] = {
		{"period", FK_TEXT, F_REQ, 0, 7, 0, 0},
		{"commit", FK_BOOL, 0, 0, 0, 0, 0},
		{0},
	};
	int y, m;
	struct run_tx t = {rq, {api_arg_id(rq, 0, ID_POOL, "cost pool"), NULL, false, rq->who.key_id, rq->request_id, 0}};
	if (!t.op.pool_id || api_fields(rq, spec, false))
		return;
	t.op.period = api_body_str(rq, "period");
	if (api_parse_period(t.op.period, &y, &m)) {
		api_field_error(rq, "period", "must be a site-local month YYYY-MM");
		return;
	}
	t.op.commit = json_is_true(json_object_get(rq->json, "commit"));
	api_tx_failed(rq, db_run_tx(run_tx, &t));
}

/* A stored run as GET shows it: its result, with id, state and reversal. */
static json_t *run_json(const struct run_row *r)
{
	json_t *o = r->result_json ? json_loads(r->result_json, 0, NULL) : NULL;
	if (!o)
		o = json_object();
	json_object_set_new(o, "id", api_id_json(ID_RUN, r->id));
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "committed", json_true());
	json_object_set_new(o, "reversed_at", r->reversed_us ? api_time_json(r->reversed_us) : json_null());
	json_object_set_new(o, "reverse_reason", r->reverse_reason ? json_string(r->reverse_reason) : json_null());
	return o;
}

void api_allocation_run_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_RUN, "allocation run");
	PGconn *c = id ? api_conn(rq) : NULL;
	if (!c)
		return;
	struct run_row r;
	if (api_read_failed(rq, store_run_get(c, id, &r)))
		return;
	if (r.id)
		api_reply(rq, 200, run_json(&r));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no allocation run %s", rq->args[0]);
	store_run_row_free(&r);
}

struct reverse_tx {
	struct req *rq;
	struct op_reverse_req op;
};

static enum db_status reverse_tx(PGconn *c, void *arg)
{
	struct reverse_tx *t = arg;
	struct req *rq = t->rq;
	enum op_alloc_err err;
	t->op.now_us = srv_clock_now_us();
	enum db_status st = op_alloc_reverse(c, &t->op, &err);
	if (st == DB_OK && err) {
		alloc_error(rq, err, NULL, NULL);
		return DB_ABORT;
	}
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "allocation.reverse", json_pack("{s:o, s:s}", "id", api_id_json(ID_RUN, t->op.run_id),
								"reason", t->op.reason));
}

/* POST /v1/allocation-runs/{id}/reverse {"reason"}: reversal entries; the period may then
 * be committed again. */
void api_allocation_run_reverse(struct req *rq)
{
	static const struct field spec[] = {{"reason", FK_TEXT, F_REQ, 0, 500, 0, 0}, {0}};
	struct reverse_tx t = {rq, {api_arg_id(rq, 0, ID_RUN, "allocation run"), NULL, rq->request_id, 0}};
	if (!t.op.run_id || api_fields(rq, spec, false))
		return;
	t.op.reason = api_body_str(rq, "reason");
	if (!api_tx_failed(rq, db_run_tx(reverse_tx, &t)))
		api_allocation_run_get(rq);
}

/* GET /v1/tenants/{id}/allocations: the committed runs whose lines name the tenant. A
 * tenant's own key sees its own amount and everyone's basis (area and energy are not
 * secret in a mall), not the other tenants' amounts. */
void api_tenant_allocations(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant"), limit, after;
	if (!id || api_tenant_scope(rq, id) || api_page(rq, ID_RUN, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct run_row *runs;
	int n;
	if (api_read_failed(rq, store_runs_of_tenant(c, id, after, limit + 1, &runs, &n)))
		return;
	char tid[40];
	snprintf(tid, sizeof tid, "ten_%lld", (long long)id);
	json_t *items = json_array();
	for (int i = 0; i < n; i++) {
		json_t *run = run_json(&runs[i]), *line;
		size_t k;
		json_array_foreach(json_object_get(run, "lines"), k, line) {
			bool own = !strcmp(json_string_value(json_object_get(line, "tenant_id")), tid);
			if (own)
				json_object_set(run, "your_amount_minor", json_object_get(line, "amount_minor"));
			if (!own && rq->who.role == ROLE_TENANT)
				json_object_del(line, "amount_minor");
		}
		json_array_append_new(items, run);
	}
	store_runs_free(runs, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* GET /v1/cost-pools/{id}/runs: the pool's runs, committed and reversed. */
void api_pool_runs_list(struct req *rq)
{
	int64_t pool = api_arg_id(rq, 0, ID_POOL, "cost pool"), limit, after;
	if (!pool || api_page(rq, ID_RUN, &limit, &after))
		return;
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct run_row *runs;
	int n;
	if (api_read_failed(rq, store_runs_of_pool(c, pool, after, limit + 1, &runs, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++) {
		const struct run_row *r = &runs[i];
		json_array_append_new(items, json_pack("{s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "id", api_id_json(ID_RUN, r->id),
						       "period", r->period, "state", r->state, "total_wh", (json_int_t)r->total_wh,
						       "total_minor", (json_int_t)r->total_minor, "created_at",
						       api_time_json(r->created_us), "reversed_at",
						       r->reversed_us ? api_time_json(r->reversed_us) : json_null(),
						       "reverse_reason", r->reverse_reason ? json_string(r->reverse_reason) : json_null()));
	}
	store_runs_free(runs, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}

/* GET /v1/sites/{id}/reconciliation?period=YYYY-MM: the main meters' energy against the
 * tenant and public meters below them; the difference is losses (lines, transformers,
 * theft, meters out of calibration). Needs meters with purpose "main". */
void api_site_reconciliation(struct req *rq)
{
	int64_t site = api_arg_id(rq, 0, ID_SITE, "site");
	if (!site)
		return;
	int y, m;
	const char *period = api_query(rq, "period");
	if (!period || api_parse_period(period, &y, &m)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "period"),
			  "period=YYYY-MM (a site-local month) is required");
		return;
	}
	char from[32], to[32];
	snprintf(from, sizeof from, "%04d-%02d-01", y, m);
	snprintf(to, sizeof to, "%04d-%02d-01", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
	PGconn *c = api_conn(rq);
	if (!c)
		return;
	struct site_energy e;
	if (api_read_failed(rq, store_site_energy(c, site, from, to, &e)))
		return;
	if (!e.site) {
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
		return;
	}
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "site_id", rq->args[0], "period", period, "main_meters",
			      (json_int_t)e.main_meters, "tenant_wh", (json_int_t)e.tenant_wh, "public_wh",
			      (json_int_t)e.public_wh);
	if (!e.main_meters) {
		json_object_set_new(o, "main_wh", json_null());
		json_object_set_new(o, "losses_wh", json_null());
		json_object_set_new(o, "losses_pct", json_null());
		json_object_set_new(o, "note", json_string("no meter of this site has purpose main: nothing to reconcile against"));
	} else {
		int64_t losses = e.main_wh - e.tenant_wh - e.public_wh;
		json_object_set_new(o, "main_wh", json_integer(e.main_wh));
		json_object_set_new(o, "losses_wh", json_integer(losses));
		if (e.main_wh > 0) {
			char pct[64];
			json_object_set_new(o, "losses_pct", json_string(bill_format_percent(losses, e.main_wh, 2, pct, sizeof pct)));
		} else {
			json_object_set_new(o, "losses_pct", json_null());
		}
	}
	api_reply(rq, 200, o);
}
