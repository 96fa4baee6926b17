/* sites.c: POST/GET /v1/sites. A site fixes the time zone and currency of what is in it. */
#include "api/api.h"
#include "server/clock.h"

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
