/* tenants.c: /v1/tenants. Creating a tenant opens its prepaid account in the same
 * transaction, in the site's currency. */
#include "api/api.h"
#include "core/money.h"
#include "core/clock.h"

#include <stdio.h>
#include <string.h>

#define TENANT_COLS                                                                        \
	"t.id, t.site_id, t.name, t.category, t.area_centi_m2, t.credit_rating, t.phone,"   \
	" t.status, " SQL_US("t.created_at") ", " SQL_US("t.updated_at") ", t.move_in::text, t.move_out::text"

static const struct db_stmt tenant_stmts[] = {
	{"tenant_insert", /* api_tenants_create: the tenant and its account, or no row */
	 "WITH t AS (INSERT INTO tenants (site_id, name, category, area_centi_m2, credit_rating,"
	 " phone, status, created_at, updated_at, move_in, move_out)"
	 " SELECT s.id, $2, $3, $4, $5, $6, coalesce($7, 'active'), " SQL_TS("$8") ", " SQL_TS("$8") ", $9::date, $10::date"
	 " FROM sites s WHERE s.id = $1 RETURNING *),"
	 " a AS (INSERT INTO accounts (tenant_id, currency, created_at, updated_at)"
	 " SELECT t.id, s.currency, t.created_at, t.created_at FROM t JOIN sites s ON s.id = t.site_id)"
	 " SELECT " TENANT_COLS " FROM t"},
	{"tenant_list", /* api_tenants_list */
	 "SELECT " TENANT_COLS " FROM tenants t WHERE t.id > $1"
	 " AND ($3::bigint IS NULL OR t.site_id = $3) ORDER BY t.id LIMIT $2"},
	{"tenant_get", /* api_tenants_get */
	 "SELECT " TENANT_COLS " FROM tenants t WHERE t.id = $1"},
	{"tenant_update", /* api_tenants_patch: NULL leaves a column; $7 says whether phone is set */
	 "UPDATE tenants t SET name = coalesce($2, name), category = coalesce($3, category),"
	 " area_centi_m2 = coalesce($4::bigint, area_centi_m2),"
	 " credit_rating = coalesce($5, credit_rating),"
	 " phone = CASE WHEN $7::boolean THEN $6 ELSE phone END,"
	 " status = coalesce($8, status), updated_at = " SQL_TS("$9") ","
	 " move_in = CASE WHEN $11::boolean THEN $10::date ELSE move_in END,"
	 " move_out = CASE WHEN $13::boolean THEN $12::date ELSE move_out END"
	 " WHERE t.id = $1 RETURNING " TENANT_COLS},
	{0, 0},
};

void api_register_statements_tenants(void);
void api_register_statements_tenants(void) { db_register(tenant_stmts); }

static json_t *tenant_json(const PGresult *r, int i)
{
	char area[32];
	bill_format_decimal(db_int64(r, i, 4), 2, area, sizeof area);
	return json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
			 api_id_col(ID_TENANT, r, i, 0), "site_id", api_id_col(ID_SITE, r, i, 1),
			 "name", PQgetvalue(r, i, 2), "category", PQgetvalue(r, i, 3), "area_m2",
			 area, "credit_rating", PQgetvalue(r, i, 5), "phone", api_str_col(r, i, 6),
			 "status", PQgetvalue(r, i, 7), "created_at", api_time_col(r, i, 8),
			 "updated_at", api_time_col(r, i, 9), "move_in", api_str_col(r, i, 10), "move_out",
			 api_str_col(r, i, 11));
}

static const char *const ratings[] = {"A", "B", "C", "D", NULL};
static const char *const statuses[] = {"active", "suspended", "closed", NULL};

static const struct field tenant_spec[] = {
	{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
	{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
	{"category", FK_TEXT, F_REQ, 0, 64, 0, 0},
	{"area_m2", FK_AREA, F_REQ, 0, 0, 0, 0},
	{"credit_rating", FK_ENUM, F_REQ, 0, 0, ratings, 0},
	{"phone", FK_PHONE, F_NULL, 0, 0, 0, 0},
	{"status", FK_ENUM, 0, 0, 0, statuses, 0},
	{"move_in", FK_DATE, F_NULL, 0, 0, 0, 0},
	{"move_out", FK_DATE, F_NULL, 0, 0, 0, 0},
	{0},
};

struct tenant_tx {
	struct req *rq;
	int64_t id;
	json_t *out;
};

/* Area as integer hundredths for the statement, or NULL when absent. */
static const char *area_param(struct req *rq, char *buf)
{
	int64_t a;
	const char *s = api_body_str(rq, "area_m2");
	if (!s || bill_parse_decimal(s, 2, INT64_C(1000000000000), &a))
		return NULL;
	return api_i64(buf, a);
}

static enum db_status tenant_create_tx(PGconn *c, void *arg)
{
	struct tenant_tx *t = arg;
	struct req *rq = t->rq;
	char site[I64_BUF], area[I64_BUF], now[I64_BUF];
	const char *p[10] = {api_i64(site, api_body_id(rq, ID_SITE, "site_id")),
			    api_body_str(rq, "name"),
			    api_body_str(rq, "category"),
			    area_param(rq, area),
			    api_body_str(rq, "credit_rating"),
			    api_body_str(rq, "phone"),
			    api_body_str(rq, "status"),
			    api_i64(now, srv_clock_now_us()),
			    api_body_str(rq, "move_in"),
			    api_body_str(rq, "move_out")};
	enum db_status st = api_tx_row(c, rq, "tenant_insert", 10, p, tenant_json, &t->out, "site_id", "no such site");
	if (st != DB_OK)
		return st;
	/* A new account at or below its cut threshold enters grace like any other. */
	st = api_refresh_accounts(c, api_id_parse(ID_TENANT, json_string_value(json_object_get(t->out, "id"))), 0, NULL);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tenant.create",
			 json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

/* move_out before move_in is refused here when both come together (the database's check
 * catches a PATCH of one against the stored other). */
static int occupancy_ok(struct req *rq)
{
	const char *in = api_body_str(rq, "move_in"), *out = api_body_str(rq, "move_out");
	if (in && out && strcmp(out, in) < 0) {
		api_field_error(rq, "move_out", "is before move_in");
		return 0;
	}
	return 1;
}

void api_tenants_create(struct req *rq)
{
	if (api_fields(rq, tenant_spec, false) || !occupancy_ok(rq))
		return;
	struct tenant_tx t = {rq, 0, NULL};
	if (api_tx_failed(rq, db_run_tx(tenant_create_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_tenants_list(struct req *rq)
{
	char site[I64_BUF];
	int64_t sid;
	if (api_query_id(rq, "site_id", ID_SITE, &sid))
		return;
	const char *extra[1] = {sid ? api_i64(site, sid) : NULL};
	api_list(rq, ID_TENANT, "tenant_list", tenant_json, 1, extra);
}

void api_tenants_get(struct req *rq)
{
	char ids[I64_BUF];
	int64_t id = api_arg_id(rq, 0, ID_TENANT, "tenant");
	if (!id || api_tenant_scope(rq, id))
		return;
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "tenant_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) == 1)
		api_reply(rq, 200, tenant_json(r, 0));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no tenant %s", rq->args[0]);
	PQclear(r);
}

static enum db_status tenant_patch_tx(PGconn *c, void *arg)
{
	struct tenant_tx *t = arg;
	struct req *rq = t->rq;
	char ids[I64_BUF], area[I64_BUF], now[I64_BUF];
	const char *p[13] = {api_i64(ids, t->id),
			    api_body_str(rq, "name"),
			    api_body_str(rq, "category"),
			    area_param(rq, area),
			    api_body_str(rq, "credit_rating"),
			    api_body_str(rq, "phone"),
			    api_body_has(rq, "phone") ? "true" : "false",
			    api_body_str(rq, "status"),
			    api_i64(now, srv_clock_now_us()),
			    api_body_str(rq, "move_in"),
			    api_body_has(rq, "move_in") ? "true" : "false",
			    api_body_str(rq, "move_out"),
			    api_body_has(rq, "move_out") ? "true" : "false"};
	enum db_status st = api_tx_row(c, rq, "tenant_update", 13, p, tenant_json, &t->out, NULL, "no tenant");
	if (st == DB_OK && api_body_has(rq, "credit_rating")) /* another policy applies */
		st = api_refresh_accounts(c, t->id, 0, NULL);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tenant.update",
			 json_pack("{s:O, s:O}", "id", json_object_get(t->out, "id"), "changes",
				   rq->json));
}

void api_tenants_patch(struct req *rq)
{
	struct tenant_tx t = {rq, api_arg_id(rq, 0, ID_TENANT, "tenant"), NULL};
	if (!t.id)
		return;
	if (api_body_has(rq, "site_id")) {
		api_field_error(rq, "site_id", "a tenant cannot move to another site");
		return;
	}
	if (api_fields(rq, tenant_spec, true) || !occupancy_ok(rq))
		return;
	if (api_tx_failed(rq, db_run_tx(tenant_patch_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 200, t.out);
}
