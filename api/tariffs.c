/* tariffs.c: /v1/tariffs. Rules are validated by billing/tariff.c and stored as jsonb. */
#include "api/api.h"
#include "core/valid.h"
#include "core/tariff.h"
#include "core/clock.h"

#include <stdlib.h>
#include <string.h>

#define TARIFF_COLS "id, site_id, name, currency, kind, spec::text, " SQL_US("effective_from") \
	", " SQL_US("created_at")

static const struct db_stmt tariff_stmts[] = {
	{"tariff_site_currency", /* api_tariffs_create */
	 "SELECT currency FROM sites WHERE id = $1"},
	{"tariff_insert", /* api_tariffs_create: the tariff and its first version */
	 "WITH t AS (INSERT INTO tariffs (site_id, name, currency, kind, spec, effective_from, created_at)"
	 " VALUES ($1, $2, $3, $4, $5::jsonb, " SQL_TS("$6") ", " SQL_TS("$7") ") RETURNING *),"
	 " v AS (INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at)"
	 " SELECT id, effective_from, kind, spec, created_at FROM t)"
	 " SELECT " TARIFF_COLS " FROM t"},
	{"tariff_version_insert", /* api_tariff_versions_create */
	 "INSERT INTO tariff_versions (tariff_id, effective_from, kind, spec, created_at)"
	 " SELECT id, " SQL_TS("$2") ", $3, $4::jsonb, " SQL_TS("$5") " FROM tariffs WHERE id = $1"
	 " RETURNING id"},
	{"tariff_versions", /* tariff_json_versions */
	 "SELECT " SQL_US("effective_from") ", kind, spec::text FROM tariff_versions"
	 " WHERE tariff_id = $1 ORDER BY effective_from"},
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
	int64_t id; /* for a new version */
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

static const char *const kinds[] = {"flat", "tou", "tiered", NULL};
#define RULE_FIELDS                                                                   \
	{"kind", FK_ENUM, F_REQ, 0, 0, kinds, 0},                                     \
	{"rate_micros_per_kwh", FK_INT, 0, 0, TARIFF_MAX_RATE, 0, 0},                \
	{"bands", FK_ARRAY, 0, 0, 0, 0, 0}, {"schedule", FK_ARRAY, 0, 0, 0, 0, 0},      \
	{"tiers", FK_ARRAY, 0, 0, 0, 0, 0}

/* Check the body against spec and the pricing rules; fill t->spec (JSON text) and
 * t->effective_from (default now). Replies 400 and returns -1 when refused. */
static int tariff_rules(struct req *rq, const struct field *spec, struct tariff_tx *t)
{
	if (api_fields(rq, spec, false))
		return -1;
	char field[64], msg[200];
	json_t *rules = bill_tariff_check(api_body_str(rq, "kind"), rq->json, field, sizeof field,
					  msg, sizeof msg);
	if (!rules)
		return api_field_error(rq, field, "%s", msg);
	t->spec = json_dumps(rules, JSON_COMPACT);
	json_decref(rules);
	t->effective_from = srv_clock_now_us();
	if (api_body_has(rq, "effective_from"))
		api_parse_time(api_body_str(rq, "effective_from"), &t->effective_from);
	return 0;
}

void api_tariffs_create(struct req *rq)
{
	static const struct field spec[] = {
		{"site_id", FK_ID, F_REQ, 0, 0, 0, ID_SITE},
		{"name", FK_TEXT, F_REQ, 0, 200, 0, 0},
		{"currency", FK_CURRENCY, F_REQ, 0, 0, 0, 0},
		{"effective_from", FK_TIME, 0, 0, 0, 0, 0},
		RULE_FIELDS,
		{0},
	};
	struct tariff_tx t = {rq, 0, NULL, 0, NULL};
	if (tariff_rules(rq, spec, &t))
		return;
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
	if (PQntuples(r) != 1) {
		api_error(rq, E_NOT_FOUND, NULL, "no tariff %s", rq->args[0]);
		PQclear(r);
		return;
	}
	json_t *out = tariff_json(r, 0);
	PQclear(r);
	if (!(r = api_read(rq, "tariff_versions", 1, p))) {
		json_decref(out);
		return;
	}
	json_t *versions = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *v = json_pack("{s:o, s:s}", "effective_from", api_time_col(r, i, 0), "kind",
				      PQgetvalue(r, i, 1));
		json_t *rules = json_loads(PQgetvalue(r, i, 2), 0, NULL);
		json_object_update(v, rules);
		json_decref(rules);
		json_array_append_new(versions, v);
	}
	PQclear(r);
	json_object_set_new(out, "versions", versions);
	api_reply(rq, 200, out);
}

static enum db_status version_tx(PGconn *c, void *arg)
{
	struct tariff_tx *t = arg;
	char id[I64_BUF], eff[I64_BUF], now[I64_BUF];
	const char *p[5] = {api_i64(id, t->id), api_i64(eff, t->effective_from),
			    api_body_str(t->rq, "kind"), t->spec, api_i64(now, srv_clock_now_us())};
	PGresult *r;
	enum db_status st = db_exec(c, "tariff_version_insert", 5, p, &r);
	int found = st == DB_OK && PQntuples(r) == 1;
	PQclear(r);
	if (st == DB_UNIQUE) {
		api_error(t->rq, E_ALREADY_EXISTS, json_pack("{s:s}", "field", "effective_from"),
			  "the tariff has a version from that instant");
		return DB_ABORT;
	}
	if (st != DB_OK)
		return st;
	if (!found) {
		api_error(t->rq, E_NOT_FOUND, NULL, "no tariff %s", t->rq->args[0]);
		return DB_ABORT;
	}
	return api_audit(c, t->rq, "tariff.version",
			 json_pack("{s:o, s:s}", "id", api_id_json(ID_TARIFF, t->id), "effective_from",
				   api_body_str(t->rq, "effective_from")));
}

void api_tariff_versions_create(struct req *rq)
{
	static const struct field spec[] = {
		{"effective_from", FK_TIME, F_REQ, 0, 0, 0, 0},
		RULE_FIELDS,
		{0},
	};
	struct tariff_tx t = {rq, 0, NULL, 0, NULL};
	if (!(t.id = api_arg_id(rq, 0, ID_TARIFF, "tariff")) || tariff_rules(rq, spec, &t))
		return;
	if (!api_tx_failed(rq, db_run_tx(version_tx, &t))) {
		api_tariffs_get(rq); /* the tariff with all its versions */
		if (rq->status == 200)
			rq->status = 201;
	}
	free(t.spec);
}
