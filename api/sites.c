/* sites.c: POST/GET /v1/sites. A site fixes the time zone and currency of what is in it. */
#include "api/api.h"
#include "core/valid.h"
#include "core/clock.h"

#include <stdio.h>

#include <string.h>

#define SITE_COLS "id, name, timezone, currency, " SQL_US("created_at")

static const struct db_stmt site_stmts[] = {
	{"site_insert", /* api_sites_create */
	 "INSERT INTO sites (name, timezone, currency, created_at) VALUES ($1, $2, $3, "
	 SQL_TS("$4") ") RETURNING " SITE_COLS},
	{"site_list", /* api_sites_list */
	 "SELECT " SITE_COLS " FROM sites WHERE id > $1 ORDER BY id LIMIT $2"},
	{"site_get", /* api_sites_get */
	 "SELECT " SITE_COLS " FROM sites WHERE id = $1"},
	{"holiday_upsert", /* api_holidays_create */
	 "INSERT INTO site_holidays (site_id, day, name) SELECT id, $2::date, $3 FROM sites WHERE id = $1"
	 " ON CONFLICT (site_id, day) DO UPDATE SET name = EXCLUDED.name RETURNING to_char(day, 'YYYY-MM-DD'), name"},
	{"holiday_list", /* api_holidays_list */
	 "SELECT to_char(day, 'YYYY-MM-DD'), name FROM site_holidays WHERE site_id = $1 ORDER BY day"},
	{0, 0},
};

void api_register_statements_sites(void);
void api_register_statements_sites(void) { db_register(site_stmts); }

static json_t *site_json(const PGresult *r, int i)
{
	return json_pack("{s:o, s:s, s:s, s:s, s:o}", "id", api_id_col(ID_SITE, r, i, 0), "name",
			 PQgetvalue(r, i, 1), "timezone", PQgetvalue(r, i, 2), "currency",
			 PQgetvalue(r, i, 3), "created_at", api_time_col(r, i, 4));
}

struct site_tx {
	struct req *rq;
	json_t *out;
};

static enum db_status site_create_tx(PGconn *c, void *arg)
{
	struct site_tx *t = arg;
	struct req *rq = t->rq;
	char now[I64_BUF];
	const char *p[4] = {api_body_str(rq, "name"), api_body_str(rq, "timezone"),
			    api_body_str(rq, "currency"), api_i64(now, srv_clock_now_us())};
	PGresult *r;
	enum db_status st = db_exec(c, "site_insert", 4, p, &r);
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = site_json(r, 0);
	}
	PQclear(r);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "site.create", json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

void api_sites_create(struct req *rq)
{
	static const struct field spec[] = {
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"timezone", FK_TZ, F_REQ, 0, 0, 0, 0},
		{"currency", FK_CURRENCY, F_REQ, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	struct site_tx t = {rq, NULL};
	if (api_tx_failed(rq, db_run_tx(site_create_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_sites_list(struct req *rq)
{
	api_list(rq, ID_SITE, "site_list", site_json, 0, NULL);
}

void api_sites_get(struct req *rq)
{
	char ids[I64_BUF];
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	if (!id)
		return;
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "site_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) == 1)
		api_reply(rq, 200, site_json(r, 0));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no site %s", rq->args[0]);
	PQclear(r);
}

static json_t *holiday_json(const PGresult *r, int i)
{
	return json_pack("{s:s, s:s}", "day", PQgetvalue(r, i, 0), "name", PQgetvalue(r, i, 1));
}

struct holiday_tx {
	struct req *rq;
	int64_t site;
	json_t *out;
};

static enum db_status holiday_tx(PGconn *c, void *arg)
{
	struct holiday_tx *t = arg;
	char site[I64_BUF];
	const char *p[3] = {api_i64(site, t->site), api_body_str(t->rq, "day"), api_body_str(t->rq, "name")};
	enum db_status st = api_tx_row(c, t->rq, "holiday_upsert", 3, p, holiday_json, &t->out, NULL, "no site");
	if (st != DB_OK)
		return st;
	return api_audit(c, t->rq, "site.holiday", json_pack("{s:o, s:s}", "site_id", api_id_json(ID_SITE, t->site),
							     "day", p[1]));
}

/* POST /v1/sites/{id}/holidays {"day":"2026-10-01","name":"National Day"}: no cut on that
 * site-local date (grace that ends on it ends the next day, after quiet hours). */
void api_holidays_create(struct req *rq)
{
	static const struct field spec[] = {
		{"day", FK_TEXT, F_REQ, 0, 10, 0, 0},
		{"name", FK_TEXT, F_REQ, 0, 100, 0, 0},
		{0},
	};
	struct holiday_tx t = {rq, api_arg_id(rq, 0, ID_SITE, "site"), NULL};
	if (!t.site || api_fields(rq, spec, false))
		return;
	int64_t us;
	char full[40];
	snprintf(full, sizeof full, "%sT00:00:00Z", api_body_str(rq, "day"));
	if (strlen(api_body_str(rq, "day")) != 10 || api_parse_time(full, &us)) {
		api_field_error(rq, "day", "must be a date YYYY-MM-DD");
		return;
	}
	if (api_tx_failed(rq, db_run_tx(holiday_tx, &t))) {
		json_decref(t.out);
		return;
	}
	api_reply(rq, 201, t.out);
}

void api_holidays_list(struct req *rq)
{
	char site[I64_BUF];
	int64_t id = api_arg_id(rq, 0, ID_SITE, "site");
	if (!id)
		return;
	const char *p[1] = {api_i64(site, id)};
	PGresult *r = api_read(rq, "holiday_list", 1, p);
	if (!r)
		return;
	json_t *items = json_array();
	for (int i = 0; i < PQntuples(r); i++)
		json_array_append_new(items, holiday_json(r, i));
	PQclear(r);
	api_reply(rq, 200, json_pack("{s:o}", "items", items));
}
