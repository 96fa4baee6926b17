/* reports.c: POST /v1/reports computes and stores a report; GET /v1/reports/{id} serves it
 * as JSON, CSV or HTML by Accept (or ?format=); GET /v1/reports lists them. */
#include "api/api.h"
#include "api/render.h"
#include "core/valid.h"
#include "ops/report.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_REPORT "rpt"

#define REPORT_COLS "r.id, r.kind, r.site_id, r.tenant_id, r.period, " SQL_US("r.created_at") ", r.origin"

static const struct db_stmt report_api_stmts[] = {
	{"report_insert", /* api_reports_create, the month close */
	 "INSERT INTO reports AS r (kind, site_id, tenant_id, period, data, created_at, api_key_id, origin)"
	 " VALUES ($1, $2, $3, $4, $5::jsonb, " SQL_TS("$6") ", $7, $8) RETURNING " REPORT_COLS},
	{"report_get", /* api_reports_get */
	 "SELECT " REPORT_COLS ", r.data::text FROM reports r WHERE r.id = $1"},
	{"report_list", /* api_reports_list */
	 "SELECT " REPORT_COLS " FROM reports r WHERE r.id > $1 AND ($3::bigint IS NULL OR r.site_id = $3)"
	 " AND ($4::text IS NULL OR r.period = $4) AND ($5::text IS NULL OR r.kind = $5)"
	 " AND ($6::bigint IS NULL OR r.tenant_id = $6) ORDER BY r.id LIMIT $2"},
	{0, 0},
};

void api_register_statements_reports(void);
void api_register_statements_reports(void)
{
	db_register(report_api_stmts);
	bill_report_register();
}

static json_t *report_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:s}", "id", api_id_col(ID_REPORT, r, i, 0), "kind",
			 PQgetvalue(r, i, 1), "site_id", api_id_col(ID_SITE, r, i, 2), "tenant_id",
			 api_id_col(ID_TENANT, r, i, 3), "period", PQgetvalue(r, i, 4), "created_at",
			 api_time_col(r, i, 5), "origin", PQgetvalue(r, i, 6));
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
		json_t *all = NULL;
		st = bill_report_statements(c, t->site, t->tenant, t->tenant + 1, t->year, t->month, &all);
		if (st == DB_OK) {
			data = json_incref(json_array_get(all, 0));
			json_object_del(data, "phone");
		}
		json_decref(all);
	} else if (t->kind == REPORT_FINANCE) {
		st = bill_report_finance(c, t->site, t->year, t->month, &data);
	} else {
		st = bill_report_energy(c, t->site, t->year, t->month, &data);
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
	char site[I64_BUF], tenant[I64_BUF], now[I64_BUF], key[I64_BUF];
	const char *p[8] = {bill_report_kind_name(t->kind), api_i64(site, t->site),
			    t->tenant ? api_i64(tenant, t->tenant) : NULL, api_body_str(rq, "period"), text,
			    api_i64(now, srv_clock_now_us()), rq->who.key_id ? api_i64(key, rq->who.key_id) : NULL, "api"};
	PGresult *r;
	st = db_exec(c, "report_insert", 8, p, &r);
	free(text);
	if (st != DB_OK) {
		PQclear(r);
		json_decref(data);
		return st;
	}
	json_decref(t->out);
	t->out = report_json(r, 0);
	PQclear(r);
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
	char ids[I64_BUF];
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "report_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) != 1 ||
	    (rq->who.role == ROLE_TENANT && (PQgetisnull(r, 0, 3) || db_int64(r, 0, 3) != rq->who.tenant_id))) {
		PQclear(r);
		api_error(rq, E_NOT_FOUND, NULL, "no report %s", rq->args[0]);
		return;
	}
	json_t *data = json_loads(PQgetvalue(r, 0, 7), 0, NULL);
	if (!strcmp(f, "json")) {
		json_t *o = report_json(r, 0);
		json_object_set_new(o, "data", data);
		api_reply(rq, 200, o);
	} else {
		size_t n;
		char *body = !strcmp(f, "csv") ? api_render_csv(data, &n) : api_render_html(data, &n);
		api_reply_raw(rq, 200, !strcmp(f, "csv") ? "text/csv; charset=utf-8" : "text/html; charset=utf-8", body, n);
		free(body);
		json_decref(data);
	}
	PQclear(r);
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
	char s[I64_BUF], t[I64_BUF];
	const char *extra[4] = {site ? api_i64(s, site) : NULL, period, kind, tenant ? api_i64(t, tenant) : NULL};
	api_list(rq, ID_REPORT, "report_list", report_json, 4, extra);
}
