/* tariffs.c: /v1/tariffs. Rules are validated by billing/tariff.c and stored as jsonb. */
#include "api/api.h"
#include "api/valid.h"
#include "billing/tariff.h"
#include "server/clock.h"

#include <stdlib.h>
#include <string.h>

#define TARIFF_COLS "id, site_id, name, currency, kind, spec::text, " SQL_US("effective_from") \
	", " SQL_US("created_at")

static const struct db_stmt tariff_stmts[] = {
	{"tariff_site_currency", /* api_tariffs_create */
	 "SELECT currency FROM sites WHERE id = $1"},
	{"tariff_insert", /* api_tariffs_create */
	 "INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at)"
	 " VALUES ($1, $2, $3, $4, $5::jsonb, " SQL_TS("$6") ", " SQL_TS("$7") ") RETURNING " TARIFF_COLS},
	{"tariff_list", /* api_tariffs_list */
	 "SELECT " TARIFF_COLS " FROM tariffs WHERE id > $1 AND ($3::bigint IS NULL OR site_id = $3)"
	 " ORDER BY id LIMIT $2"},
	{"tariff_get", /* api_tariffs_get */
	 "SELECT " TARIFF_COLS " FROM tariffs WHERE id = $1"},
	{0, 0},
};

void api_register_statements_tariffs(void);
void api_register_statements_tariffs(void) { db_register(tariff_stmts); }

static json_t *tariff_json(const PGresult *r, int i)
{
	json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:o, s:o}", "id",
			      api_id_col(ID_TARIFF, r, i, 0), "site_id", api_id_col(ID_SITE, r, i, 1),
			      "name", PQgetvalue(r, i, 2), "currency", PQgetvalue(r, i, 3), "kind",
			      PQgetvalue(r, i, 4), "effective_from", api_time_col(r, i, 6),
			      "created_at", api_time_col(r, i, 7));
	json_t *spec = json_loads(PQgetvalue(r, i, 5), 0, NULL);
	json_object_update(o, spec); /* the rules sit at the top level, as they were posted */
	json_decref(spec);
	return o;
}

struct tariff_tx {
	struct req *rq;
	char *spec;
	int64_t effective_from;
	json_t *out;
};

static enum db_status tariff_tx(PGconn *c, void *arg)
{
	struct tariff_tx *t = arg;
	struct req *rq = t->rq;
	char site[I64_BUF], eff[I64_BUF], now[I64_BUF];
	const char *p[7] = {api_i64(site, api_body_id(rq, ID_SITE, "site_id")),
			    api_body_str(rq, "name"),
			    api_body_str(rq, "currency"),
			    api_body_str(rq, "kind"),
			    t->spec,
			    api_i64(eff, t->effective_from),
			    api_i64(now, srv_clock_now_us())};
	PGresult *r;
	enum db_status st = db_exec(c, "tariff_site_currency", 1, p, &r);
	if (st == DB_OK && PQntuples(r) == 0) {
		api_field_error(rq, "site_id", "no such site");
		st = DB_ABORT;
	} else if (st == DB_OK && strcmp(PQgetvalue(r, 0, 0), p[2])) {
		api_error(rq, E_CURRENCY_MISMATCH, json_pack("{s:s}", "field", "currency"),
			  "the tariff's currency must be the site's (%s)", PQgetvalue(r, 0, 0));
		st = DB_ABORT;
	}
	PQclear(r);
	if (st != DB_OK)
		return st;
	st = db_exec(c, "tariff_insert", 7, p, &r);
	if (st == DB_OK) {
		json_decref(t->out);
		t->out = tariff_json(r, 0);
	}
	PQclear(r);
	if (st != DB_OK)
		return st;
	return api_audit(c, rq, "tariff.create",
			 json_pack("{s:O}", "id", json_object_get(t->out, "id")));
}

void api_tariffs_create(struct req *rq)
{
	static const char *const kinds[] = {"flat", "tou", "tiered", NULL};
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"currency", FK_CURRENCY, F_REQ, 0, 0, 0, 0},
		{"kind", FK_ENUM, F_REQ, 0, 0, kinds, 0},
		{"effective_from", FK_TIME, 0, 0, 0, 0, 0},
		{"rate_micros_per_kwh", FK_INT, 0, 0, TARIFF_MAX_RATE, 0, 0},
		{"bands", FK_ARRAY, 0, 0, 0, 0, 0},
		{"schedule", FK_ARRAY, 0, 0, 0, 0, 0},
		{"tiers", FK_ARRAY, 0, 0, 0, 0, 0},
		{0},
	};
	if (api_fields(rq, spec, false))
		return;
	char field[64], msg[200];
	json_t *rules = bill_tariff_check(api_body_str(rq, "kind"), rq->json, field, sizeof field,
					  msg, sizeof msg);
	if (!rules) {
		api_field_error(rq, field, "%s", msg);
		return;
	}
	struct tariff_tx t = {rq, json_dumps(rules, JSON_COMPACT), srv_clock_now_us(), NULL};
	json_decref(rules);
	if (api_body_has(rq, "effective_from"))
		api_parse_time(api_body_str(rq, "effective_from"), &t.effective_from);
	if (!api_tx_failed(rq, db_run_tx(tariff_tx, &t)))
		api_reply(rq, 201, t.out);
	else
		json_decref(t.out);
	free(t.spec);
}

void api_tariffs_list(struct req *rq)
{
	char site[I64_BUF];
	int64_t sid;
	if (api_query_id(rq, "site_id", ID_SITE, &sid))
		return;
	const char *extra[1] = {sid ? api_i64(site, sid) : NULL};
	api_list(rq, ID_TARIFF, "tariff_list", tariff_json, 1, extra);
}

void api_tariffs_get(struct req *rq)
{
	char ids[I64_BUF];
	int64_t id = api_arg_id(rq, 0, ID_TARIFF, "tariff");
	if (!id)
		return;
	const char *p[1] = {api_i64(ids, id)};
	PGresult *r = api_read(rq, "tariff_get", 1, p);
	if (!r)
		return;
	if (PQntuples(r) == 1)
		api_reply(rq, 200, tariff_json(r, 0));
	else
		api_error(rq, E_NOT_FOUND, NULL, "no tariff %s", rq->args[0]);
	PQclear(r);
}
