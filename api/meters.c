/* meters.c: /v1/meters. A meter belongs to a site and, unless it is a public-area meter,
 * to one of the site's tenants; its tariff must be one of the site's. */
#include "api/api.h"
#include "core/clock.h"
#include "store/outbox.h"

#include <string.h>

#define METER_COLS                                                                           \
	"id, serial, site_id, tenant_id, purpose, tariff_id, multiplier, max_power_w,"        \
	" protected, gateway, status, " SQL_US("created_at") ", " SQL_US("updated_at") ","     \
	" register_max_wh, start_register_wh"

static const struct db_stmt meter_stmts[] = {
	{"meter_refs", /* meter_check_refs: sites of the referenced site, tenant and tariff */
	 "SELECT (SELECT id FROM sites WHERE id = $1), (SELECT site_id FROM tenants WHERE id = $2),"
	 " (SELECT site_id FROM tariffs WHERE id = $3)"},
	{"meter_insert", /* api_meters_create: the meter and its billing state; a starting
			    register is the baseline of a replacement meter */
	 "WITH m AS (INSERT INTO meters (serial, site_id, tenant_id, purpose, tariff_id, multiplier,"
	 " max_power_w, protected, gateway, register_max_wh, start_register_wh, created_at, updated_at)"
	 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12, " SQL_TS("$10") ", " SQL_TS("$10") ")"
	 " RETURNING *),"
	 " s AS (INSERT INTO meter_state (meter_id, last_ts, last_register_wh)"
	 " SELECT id, CASE WHEN start_register_wh IS NULL THEN NULL ELSE created_at END,"
	 " start_register_wh FROM m)"
	 " SELECT " METER_COLS " FROM m"},
	{"meter_list", /* api_meters_list */
	 "SELECT " METER_COLS " FROM meters WHERE id > $1 AND ($3::bigint IS NULL OR site_id = $3)"
	 " AND ($4::bigint IS NULL OR tenant_id = $4) ORDER BY id LIMIT $2"},
	{"meter_get", /* api_meters_get: by id or serial */
	 "SELECT " METER_COLS " FROM meters WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2"},
	{"meter_lock", /* api_meters_patch: by id or serial */
	 "SELECT site_id, id FROM meters WHERE ($1::bigint IS NOT NULL AND id = $1) OR serial = $2"
	 " FOR UPDATE"},
	{"meter_update", /* api_meters_patch: $n NULL leaves a column; *_set say whether a
			    nullable column is being set */
	 "UPDATE meters SET tenant_id = CASE WHEN $3::boolean THEN $2::bigint ELSE tenant_id END,"
	 " purpose = coalesce($4, purpose),"
	 " tariff_id = CASE WHEN $6::boolean THEN $5::bigint ELSE tariff_id END,"
	 " multiplier = coalesce($7::integer, multiplier),"
	 " max_power_w = CASE WHEN $9::boolean THEN $8::bigint ELSE max_power_w END,"
	 " protected = coalesce($10::boolean, protected),"
	 " gateway = CASE WHEN $12::boolean THEN $11 ELSE gateway END,"
	 " status = coalesce($13, status), updated_at = " SQL_TS("$14") ","
	 " register_max_wh = CASE WHEN $16::boolean THEN $15::bigint ELSE register_max_wh END"
	 " WHERE id = $1 RETURNING " METER_COLS},
	{0, 0},
};

void api_register_statements_meters(void);
void api_register_statements_meters(void) { db_register(meter_stmts); }

static json_t *meter_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:b, s:o, s:s, s:o, s:o, s:o, s:o}", "id",
			 api_id_col(ID_METER, r, i, 0), "serial", PQgetvalue(r, i, 1), "site_id",
			 api_id_col(ID_SITE, r, i, 2), "tenant_id", api_id_col(ID_TENANT, r, i, 3),
			 "purpose", PQgetvalue(r, i, 4), "tariff_id", api_id_col(ID_TARIFF, r, i, 5),
			 "multiplier", api_int_col(r, i, 6), "max_power_w", api_int_col(r, i, 7),
			 "protected", !strcmp(PQgetvalue(r, i, 8), "t"), "gateway",
			 api_str_col(r, i, 9), "status", PQgetvalue(r, i, 10), "created_at",
			 api_time_col(r, i, 11), "updated_at", api_time_col(r, i, 12),
			 "register_max_wh", api_int_col(r, i, 13), "start_register_wh",
			 api_int_col(r, i, 14));
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
	{"protected", FK_BOOL, 0, 0, 0, 0, 0},
	{"gateway", FK_URL, F_NULL, 0, 0, 0, 0},
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

/* The tenant and tariff (ids, 0 = none) must exist and belong to site. Replies 400 and
 * returns DB_ABORT when not. */
static enum db_status meter_check_refs(PGconn *c, struct req *rq, int64_t site, int64_t tenant,
				       int64_t tariff)
{
	char s[I64_BUF], t[I64_BUF], f[I64_BUF];
	const char *p[3] = {api_i64(s, site), tenant ? api_i64(t, tenant) : NULL,
			    tariff ? api_i64(f, tariff) : NULL};
	PGresult *r;
	enum db_status st = db_exec(c, "meter_refs", 3, p, &r);
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	st = DB_ABORT;
	if (PQgetisnull(r, 0, 0))
		api_field_error(rq, "site_id", "no such site");
	else if (tenant && (PQgetisnull(r, 0, 1) || db_int64(r, 0, 1) != site))
		api_field_error(rq, "tenant_id", "no such tenant on this site");
	else if (tariff && (PQgetisnull(r, 0, 2) || db_int64(r, 0, 2) != site))
		api_field_error(rq, "tariff_id", "no such tariff on this site");
	else
		st = DB_OK;
	PQclear(r);
	return st;
}

/* A meter of a tenant whose account is cut off must not stay on: queue its cut. */
static enum db_status follow_account(PGconn *c, json_t *meter)
{
	return store_commands_follow_account(c, api_id_parse(ID_METER, json_string_value(json_object_get(meter, "id"))),
					     srv_clock_now_us());
}

static enum db_status meter_create_tx(PGconn *c, void *arg)
{
	struct meter_tx *t = arg;
	struct req *rq = t->rq;
	int64_t tenant = api_body_id(rq, ID_TENANT, "tenant_id");
	int64_t tariff = api_body_id(rq, ID_TARIFF, "tariff_id");
	enum db_status st = meter_check_refs(c, rq, t->site, tenant, tariff);
	if (st != DB_OK)
		return st;
	char site[I64_BUF], ten[I64_BUF], trf[I64_BUF], mul[I64_BUF], mp[I64_BUF], now[I64_BUF];
	char rmax[I64_BUF], start[I64_BUF];
	const char *purpose = api_body_str(rq, "purpose");
	json_t *prot = json_object_get(rq->json, "protected");
	const char *p[12] = {api_body_str(rq, "serial"),
			     api_i64(site, t->site),
			     tenant ? api_i64(ten, tenant) : NULL,
			     purpose ? purpose : tenant ? "tenant" : "other",
			     tariff ? api_i64(trf, tariff) : NULL,
			     api_body_has(rq, "multiplier") ? api_i64(mul, api_body_int(rq, "multiplier")) : "1",
			     api_body_int(rq, "max_power_w") ? api_i64(mp, api_body_int(rq, "max_power_w")) : NULL,
			     json_is_true(prot) ? "true" : "false",
			     api_body_str(rq, "gateway"),
			     api_i64(now, srv_clock_now_us()),
			     api_body_int(rq, "register_max_wh") ? api_i64(rmax, api_body_int(rq, "register_max_wh")) : NULL,
			     api_body_has(rq, "start_register_wh") ? api_i64(start, api_body_int(rq, "start_register_wh")) : NULL};
	PGresult *r;
	st = db_exec(c, "meter_insert", 12, p, &r);
	if (st == DB_UNIQUE) {
		api_error(rq, E_ALREADY_EXISTS, json_pack("{s:s}", "field", "serial"),
			  "a meter with serial %s exists", p[0]);
		st = DB_ABORT;
	} else if (st == DB_OK) {
		json_decref(t->out);
		t->out = meter_json(r, 0);
	}
	PQclear(r);
	if (st != DB_OK || (st = follow_account(c, t->out)) != DB_OK)
		return st;
	return api_audit(c, rq, "meter.create", json_pack("{s:O, s:s}", "id",
							  json_object_get(t->out, "id"), "serial", p[0]));
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
	char site[I64_BUF], ten[I64_BUF];
	int64_t sid, tid;
	if (api_query_id(rq, "site_id", ID_SITE, &sid) || api_query_id(rq, "tenant_id", ID_TENANT, &tid))
		return;
	const char *extra[2] = {sid ? api_i64(site, sid) : NULL, tid ? api_i64(ten, tid) : NULL};
	api_list(rq, ID_METER, "meter_list", meter_json, 2, extra);
}

void api_meters_get(struct req *rq)
{
	char ids[I64_BUF];
	const char *p[2];
	api_meter_ref(rq, ids, p);
	PGresult *r = api_read(rq, "meter_get", 2, p);
	if (!r)
		return;
	if (PQntuples(r) >= 1)
		api_reply(rq, 200, meter_json(r, 0));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no meter %s", rq->args[0]);
	PQclear(r);
}

static const char *setflag(struct req *rq, const char *name)
{
	return api_body_has(rq, name) ? "true" : "false";
}

static enum db_status meter_patch_tx(PGconn *c, void *arg)
{
	struct meter_tx *t = arg;
	struct req *rq = t->rq;
	char ids[I64_BUF];
	const char *p1[2];
	api_meter_ref(rq, ids, p1);
	PGresult *r;
	enum db_status st = db_exec(c, "meter_lock", 2, p1, &r);
	if (st == DB_OK && PQntuples(r) == 0) {
		api_error(rq, E_NOT_FOUND, NULL, "no meter %s", rq->args[0]);
		st = DB_ABORT;
	}
	if (st != DB_OK) {
		PQclear(r);
		return st;
	}
	int64_t site = db_int64(r, 0, 0);
	api_i64(ids, db_int64(r, 0, 1));
	PQclear(r);
	int64_t tenant = api_body_id(rq, ID_TENANT, "tenant_id");
	int64_t tariff = api_body_id(rq, ID_TARIFF, "tariff_id");
	st = meter_check_refs(c, rq, site, tenant, tariff);
	if (st != DB_OK)
		return st;
	char ten[I64_BUF], trf[I64_BUF], mul[I64_BUF], mp[I64_BUF], now[I64_BUF], rmax[I64_BUF];
	json_t *prot = json_object_get(rq->json, "protected");
	const char *p[16] = {ids,
			     tenant ? api_i64(ten, tenant) : NULL,
			     setflag(rq, "tenant_id"),
			     api_body_str(rq, "purpose"),
			     tariff ? api_i64(trf, tariff) : NULL,
			     setflag(rq, "tariff_id"),
			     api_body_has(rq, "multiplier") ? api_i64(mul, api_body_int(rq, "multiplier")) : NULL,
			     api_body_int(rq, "max_power_w") ? api_i64(mp, api_body_int(rq, "max_power_w")) : NULL,
			     setflag(rq, "max_power_w"),
			     prot ? (json_is_true(prot) ? "true" : "false") : NULL,
			     api_body_str(rq, "gateway"),
			     setflag(rq, "gateway"),
			     api_body_str(rq, "status"),
			     api_i64(now, srv_clock_now_us()),
			     api_body_int(rq, "register_max_wh") ? api_i64(rmax, api_body_int(rq, "register_max_wh")) : NULL,
			     setflag(rq, "register_max_wh")};
	st = db_exec(c, "meter_update", 16, p, &r);
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = meter_json(r, 0);
	}
	PQclear(r);
	if (st != DB_OK || (st = follow_account(c, t->out)) != DB_OK)
		return st;
	return api_audit(c, rq, "meter.update", json_pack("{s:O, s:O}", "id",
							  json_object_get(t->out, "id"), "changes", rq->json));
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
