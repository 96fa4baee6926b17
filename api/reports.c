/* reports.c: POST /v1/reports computes and stores a report; GET /v1/reports/{id} serves it
 * as JSON, CSV or HTML by Accept (or ?format=); GET /v1/reports lists them. */
#include "api/api.h"
#include "api/render.h"
#include "core/clock.h"
#include "core/report_doc.h"
#include "core/valid.h"
#include "ops/report.h"
#include "store/closes.h"
#include "store/reports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_REPORT "rpt"

void api_register_statements_reports(void);
void api_register_statements_reports(void) { store_reports_register(); }

static json_t *report_json(const struct report_view *r)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:s}", "id", api_id_json(ID_REPORT, r->id), "kind", r->kind,
			 "site_id", api_id_json(ID_SITE, r->site_id), "tenant_id",
			 r->tenant_id ? api_id_json(ID_TENANT, r->tenant_id) : json_null(), "period", r->period,
			 "created_at", api_time_json(r->created_us), "origin", r->origin);
}

struct report_tx {
	struct req *rq;
	int kind;
	int64_t site, tenant;
	int year, month;
	json_t *out;
};

static enum db_status report_tx(PGconn *c, void *arg)
{
	struct report_tx *t = arg;
	struct req *rq = t->rq;
	json_t *data = NULL;
	enum db_status st;
	if (t->kind == REPORT_STATEMENT) {
		struct statement_set all;
		st = op_report_statements(c, t->site, t->tenant, t->tenant + 1, t->year, t->month, &all);
		if (st == DB_OK)
			data = report_doc_statement(&all.site, &all.items[0]); /* without the phone number */
		statement_set_free(&all);
	} else if (t->kind == REPORT_FINANCE) {
		struct finance_report f;
		if ((st = op_report_finance(c, t->site, t->year, t->month, &f)) == DB_OK)
			data = report_doc_finance(&f);
		finance_report_free(&f);
	} else {
		struct energy_report e;
		if ((st = op_report_energy(c, t->site, t->year, t->month, &e)) == DB_OK)
			data = report_doc_energy(&e);
		energy_report_free(&e);
	}
	if (st == DB_ABORT) {
		if (t->tenant)
			api_field_error(rq, "tenant_id", "no tenant %s at site %s", api_body_str(rq, "tenant_id"),
					api_body_str(rq, "site_id"));
		else
			api_field_error(rq, "site_id", "no site %s", api_body_str(rq, "site_id"));
		return DB_ABORT;
	}
	if (st != DB_OK)
		return st;
	char *text = json_dumps(data, JSON_COMPACT);
	struct report_view row;
	st = store_report_insert(c, bill_report_kind_name(t->kind), t->site, t->tenant, api_body_str(rq, "period"), text,
				 srv_clock_now_us(), rq->who.key_id, &row);
	free(text);
	if (st != DB_OK) {
		json_decref(data);
		return st;
	}
	json_decref(t->out);
	t->out = report_json(&row);
	free(row.data_json);
	json_object_set_new(t->out, "data", data);
	api_reply(rq, 201, json_incref(t->out));
	return api_audit(c, rq, "report.create",
			 json_pack("{s:O, s:s, s:s}", "id", json_object_get(t->out, "id"), "kind",
				   bill_report_kind_name(t->kind), "period", api_body_str(rq, "period")));
}

void api_reports_create(struct req *rq)
{
	static const char *const kinds[] = {"tenant_statement", "finance_summary", "energy", NULL};
	static const struct field spec[] = {
		{"kind", FK_ENUM, F_REQ, 0, 0, kinds, 0},
		{"period", FK_TEXT, F_REQ, 0, 7, 0, 0},
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"tenant_id", FK_ID, 0, 0, 0, 0, ID_TENANT},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct report_tx t = {rq, bill_report_kind_parse(api_body_str(rq, "kind")), api_body_id(rq, ID_SITE, "site_id"),
			      api_body_id(rq, ID_TENANT, "tenant_id"), 0, 0, NULL};
	if (api_parse_period(api_body_str(rq, "period"), &t.year, &t.month)) {
		api_field_error(rq, "period", "must be a site-local month YYYY-MM");
		return;
	}
	if ((t.kind == REPORT_STATEMENT) != (t.tenant != 0)) {
		api_field_error(rq, "tenant_id", t.tenant ? "only a tenant_statement names a tenant"
							  : "a tenant_statement needs tenant_id");
		return;
	}
	api_tx_failed(rq, db_run_tx(report_tx, &t));
	json_decref(t.out);
}

/* json, csv or html: ?format= first, then Accept. */
static const char *format(struct req *rq)
{
	const char *f = api_query(rq, "format");
	if (f)
		return f;
	const char *a = api_header(rq, "Accept");
	if (a && strstr(a, "text/html"))
		return "html";
	if (a && strstr(a, "text/csv"))
		return "csv";
	return "json";
}

void api_reports_get(struct req *rq)
{
	int64_t id = api_arg_id(rq, 0, ID_REPORT, "report");
	if (!id)
		return;
	const char *f = format(rq);
	if (strcmp(f, "json") && strcmp(f, "csv") && strcmp(f, "html")) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "format"),
			  "format must be json, csv or html");
		return;
	}
	PGconn *c = api_read_conn(rq);
	struct report_view r;
	if (!c || api_read_failed(rq, store_report_get(c, id, &r)))
		return;
	if (!r.id && db_is_replica(c)) { /* a report made since the replica's data: ask the primary */
		free(r.data_json);
		if (!(c = api_conn(rq)) || api_read_failed(rq, store_report_get(c, id, &r)))
			return;
	}
	if (!r.id || (rq->who.role == ROLE_TENANT && r.tenant_id != rq->who.tenant_id)) {
		free(r.data_json);
		api_error(rq, E_NOT_FOUND, NULL, "no report %s", rq->args[0]);
		return;
	}
	char tag[48]; /* a stored report never changes; r2: the renderers' version */
	snprintf(tag, sizeof tag, "rpt_%lld-%s-r2", (long long)r.id, f);
	if (api_cacheable(rq, tag)) {
		free(r.data_json);
		return;
	}
	json_t *data = r.data_json ? json_loads(r.data_json, 0, NULL) : NULL;
	free(r.data_json);
	if (!strcmp(f, "json")) {
		json_t *o = report_json(&r);
		json_object_set_new(o, "data", data);
		api_reply(rq, 200, o);
	} else {
		size_t n;
		char *body = !strcmp(f, "csv") ? api_render_csv(data, &n) : api_render_html(data, &n);
		api_reply_raw(rq, 200, !strcmp(f, "csv") ? "text/csv; charset=utf-8" : "text/html; charset=utf-8", body, n);
		free(body);
		json_decref(data);
	}
}

void api_reports_list(struct req *rq)
{
	static const char *const kinds[] = {"tenant_statement", "finance_summary", "energy", NULL};
	int64_t site, tenant;
	const char *kind, *period = api_query(rq, "period");
	int y, m;
	if (api_query_id(rq, "site_id", ID_SITE, &site) || api_query_id(rq, "tenant_id", ID_TENANT, &tenant) ||
	    api_query_enum(rq, "kind", kinds, &kind))
		return;
	if (period && api_parse_period(period, &y, &m)) {
		api_error(rq, E_INVALID_PARAMETER, json_pack("{s:s}", "parameter", "period"), "period must be YYYY-MM");
		return;
	}
	if (rq->who.role == ROLE_TENANT) { /* a tenant lists its own statements, whatever it asks */
		if (tenant && api_tenant_scope(rq, tenant))
			return;
		tenant = rq->who.tenant_id;
		kind = "tenant_statement";
	}
	int64_t limit, after;
	if (api_page(rq, ID_REPORT, &limit, &after))
		return;
	PGconn *c = api_read_conn(rq);
	if (!c)
		return;
	struct report_filter rf = {site, tenant, period, kind};
	struct report_view *v;
	int n;
	if (api_read_failed(rq, store_reports_list(c, after, limit + 1, &rf, &v, &n)))
		return;
	json_t *items = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(items, report_json(&v[i]));
	store_report_views_free(v, n);
	api_reply(rq, 200, api_page_reply(items, limit));
}
